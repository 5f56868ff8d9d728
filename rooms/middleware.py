import zoneinfo

from django.utils import timezone, translation


class UserPreferencesMiddleware:
    """Speak the signed-in person's language and show times in their time zone.

    Screens about one stream switch to the studio's time zone themselves.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
            timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
