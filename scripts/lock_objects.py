"""Row locks for the scripts app."""

from .models import ScriptVersion


def version_for_update(version_id: int) -> ScriptVersion:
    """Lock a version to edit or lock it; edits and the lock then happen one at a time."""
    return ScriptVersion.objects.select_for_update().select_related("script").get(pk=version_id)
