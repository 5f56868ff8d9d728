"""Authentication by API token (REST) and by screen token (shared screens, websockets)."""

from datetime import timedelta

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from . import selectors
from .models import ApiToken
from .tokens import token_hash

SCREEN_COOKIE = "mcn_screen"
# Recording every use would turn each API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <token>` (or `Bearer <token>`) with a token from /api/v1/auth/token."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if len(header) == 2 and header[0].lower() == b"bearer":
            return self.authenticate_credentials(header[1].decode(errors="replace"))
        return super().authenticate(request)

    def authenticate_credentials(self, key: str):
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=token_hash(key), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        now = timezone.now()
        if token.idle_expired(now):
            days = settings.MCN_API_TOKEN_IDLE_DAYS
            raise exceptions.AuthenticationFailed(
                ngettext(
                    "This token expired after %(days)d day unused; sign in for a new one.",
                    "This token expired after %(days)d days unused; sign in for a new one.",
                    days,
                )
                % {"days": days}
            )
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token


def set_screen_cookie(response, raw: str, expires_at) -> None:
    """The paired screen's credential, where its pages and socket find it."""
    response.set_cookie(
        SCREEN_COOKIE,
        raw,
        expires=expires_at,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )


class ScreenTokenAuthentication(authentication.BaseAuthentication):
    """A paired wall screen reading over HTTP: its cookie, or `Authorization: Screen <token>`.

    The request's user stays anonymous; `request.auth` is the screen (`ScreenIdentity`),
    which may read the live picture of its own studio's streams and nothing else.
    """

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _sep, raw = header.partition(" ")
        if scheme.lower() != "screen":
            raw = request.COOKIES.get(SCREEN_COOKIE, "")
        if not raw:
            return None
        screen = selectors.screen_identify(raw.strip())
        if screen is None:
            raise exceptions.AuthenticationFailed(_("This screen is no longer paired."))
        return AnonymousUser(), screen

    def authenticate_header(self, request) -> str:
        return "Screen"


class ScreenTokenScheme(OpenApiAuthenticationExtension):
    target_class = ScreenTokenAuthentication
    name = "screenToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Screen <token>` for a paired wall screen (read-only).",
        }


class ScreenTokenMiddleware(BaseMiddleware):
    """Puts the paired screen (or None) in `scope["screen"]` for websocket consumers.

    The token comes from the screen's cookie, or from `Authorization: Screen <token>` for
    clients that are not browsers. Runs inside `AuthMiddlewareStack`, which parses cookies.
    """

    async def __call__(self, scope, receive, send):
        raw = scope.get("cookies", {}).get(SCREEN_COOKIE) or _screen_header(scope)
        scope = dict(scope, screen=await _identify(raw) if raw else None)
        return await super().__call__(scope, receive, send)


def _screen_header(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode(errors="replace").partition(" ")
            if scheme.lower() == "screen" and token:
                return token.strip()
    return None


@database_sync_to_async
def _identify(raw: str):
    return selectors.screen_identify(raw)


class SignInGuard:
    """Slows down password guessing, on the web sign-in and the API token endpoint alike.

    Failed attempts are counted per username and per client address for a window; once
    either count reaches its limit, further attempts are refused without checking the
    password until the window passes. A successful sign-in clears the username's count.
    """

    WINDOW_SECONDS = 15 * 60
    PER_USERNAME = 10
    PER_ADDRESS = 50

    def __init__(self, *, username: str, address: str | None) -> None:
        self.keys = [
            (f"signin:user:{token_hash(username.casefold())}", self.PER_USERNAME),
            (f"signin:addr:{address or 'unknown'}", self.PER_ADDRESS),
        ]

    def locked(self) -> bool:
        counts = cache.get_many([key for key, _limit in self.keys])
        return any(counts.get(key, 0) >= limit for key, limit in self.keys)

    def failed(self) -> None:
        for key, _limit in self.keys:
            if cache.add(key, 1, self.WINDOW_SECONDS) is False:
                try:
                    cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.set(key, 1, self.WINDOW_SECONDS)

    def succeeded(self) -> None:
        cache.delete(self.keys[0][0])
