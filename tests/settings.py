"""Test overrides on top of mcn_console.settings: isolation and speed, nothing else."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-used-anywhere-else-0123456789")

from mcn_console.settings import *  # noqa: F403
from mcn_console.settings import (
    CACHES,
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CHANNEL_LAYERS,
)

# Every test run gets its own database and Redis key space, so two runs on one machine (a
# developer's and CI's, say) never see each other's data or messages.
# A server started as a subprocess by a test joins that test's run (MCN_TEST_RUN_PREFIX).
RUN_PREFIX = os.environ.get("MCN_TEST_RUN_PREFIX") or f"mcn-test-{os.getpid()}"
DATABASES["default"]["TEST"] = {"NAME": f"test_mcn_{os.getpid()}"}  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = RUN_PREFIX
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{RUN_PREFIX}:ws"
CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = f"{RUN_PREFIX}:celery:"

DEBUG = False
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
LOGGING["handlers"]["console"]["formatter"] = "plain"  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"auth": "1000/minute"}  # noqa: F405
