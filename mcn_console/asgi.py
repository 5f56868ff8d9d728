"""ASGI entry point: HTTP through Django, websockets through Channels.

Websockets are refused before the handshake completes when the Origin is not an allowed
host; authentication comes from the session cookie or a paired screen's token.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcn_console.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from rooms.auth import ScreenTokenMiddleware  # noqa: E402
from rooms.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(ScreenTokenMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
