"""Object permissions for scripts: written and locked by the producers of the script's studio."""

import rules

from rooms.rules import is_producer, is_studio_member


@rules.predicate
def is_script_studio_member(user, script) -> bool:
    return script is not None and script.studio.members.filter(pk=user.pk).exists()


rules.add_perm("scripts.add_script", rules.is_superuser | (is_producer & is_studio_member))
rules.add_perm(
    "scripts.change_script", rules.is_superuser | (is_producer & is_script_studio_member)
)
