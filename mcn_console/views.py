"""Process health for load balancers and orchestrators."""

import logging

import redis
from csp.constants import UNSAFE_INLINE as CSP_UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.views import SpectacularSwaggerSplitView

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ready(), "redis": _redis_ready()}
    ready = all(checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def _database_ready() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("readyz: database unreachable", exc_info=True)
        return False


def _redis_ready() -> bool:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        logger.warning("readyz: redis unreachable", exc_info=True)
        return False


@method_decorator(csp_update({"style-src": [CSP_UNSAFE_INLINE]}), name="dispatch")
class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI, served from the sidecar package; it styles itself with inline styles."""
