from django.conf import settings

from . import navigation


def navigation_items(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "nav_roles": [], "languages": settings.LANGUAGES}
    role_names = set(user.groups.values_list("name", flat=True))
    return {
        "nav_items": navigation.items_for(user, role_names),
        "nav_roles": sorted(role_names),
        "languages": settings.LANGUAGES,
    }
