"""Settings for MCN Console, read from the environment (see `.env.example`).

One module for every deployment. `make run` and `make test` export `DATABASE_URL` and
`REDIS_URL` for the embedded services when they are not set; tests add small overrides in
`tests/conftest.py`.
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env(
    "DJANGO_SECRET_KEY",
    default="insecure-development-key-only-for-make-run" if DEBUG else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rules.apps.AutodiscoverRulesConfig",
    "channels",
    "django_celery_beat",
    "rooms",
    "scripts",
    "support",
    "ads",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "rooms.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "mcn_console.urls"
ASGI_APPLICATION = "mcn_console.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "mcn_console" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "rooms.context_processors.navigation_items",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL")}
# Django's PostgreSQL backend, writing a transaction's event-log rows with its COMMIT.
DATABASES["default"]["ENGINE"] = "rooms.backend"
# A pool per process: the ASGI server runs sync views on several threads, and opening a
# PostgreSQL connection per request would dominate the cost of a webhook batch.
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": env.int("DATABASE_POOL_MIN", default=2),
    "max_size": env.int("DATABASE_POOL_MAX", default=20),
    "timeout": 10,
}
DATABASES["default"]["CONN_MAX_AGE"] = 0
# A pooled connection is checked (an empty query) as it leaves the pool, so one that
# PostgreSQL dropped meanwhile (a restart, a failover, an idle timeout) is replaced instead
# of failing the request or task that drew it. It costs one round trip per request or task.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The few statements services run hundreds of times a second are prepared on the server
# (`rooms.prepared`); Django's own queries never are. Behind a pooler that cannot keep
# prepared statements (PgBouncer in transaction mode before 1.22, or with
# max_prepared_statements at 0), set it to false.
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = (
    5 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "mcn_console.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("MCN_REDIS_PREFIX", default="mcn"),
    }
}

# The pub/sub layer sends one Redis message per group message, whatever the number of
# sockets; each web process fans out to its own sockets (rooms/fanout.py). `core` selects
# channels_redis' list-based layer instead; docs/benchmarks.md has the measurements.
CHANNEL_LAYER_BACKENDS = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": CHANNEL_LAYER_BACKENDS[env("MCN_CHANNEL_LAYER", default="pubsub")],
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": env("MCN_REDIS_PREFIX", default="mcn") + ":ws",
        },
    }
}

# --- Celery ------------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": env("MCN_REDIS_PREFIX", default="mcn") + ":celery:",
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A new worker process loads the Chinese segmenter's dictionary before it takes tasks
# (support/tasks.py): give it longer than Celery's 4 s to say it is up.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 30
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "ingest-sweep": {
        "task": "rooms.tasks.ingest_sweep_task",
        "schedule": 15.0,
    },
    "show-operators-sweep": {
        "task": "rooms.tasks.show_operators_sweep_task",
        "schedule": 10.0,
    },
    "event-log-prune": {
        "task": "rooms.tasks.event_log_prune_task",
        "schedule": 600.0,
    },
    # Support queue: leases (25 s) and SLA warnings must not wait long for their sweep.
    "support-claims-sweep": {"task": "support.tasks.claims_sweep_task", "schedule": 5.0},
    "support-sla-sweep": {"task": "support.tasks.sla_sweep_task", "schedule": 5.0},
    "support-agents-sweep": {"task": "support.tasks.agents_sweep_task", "schedule": 15.0},
    "support-outbox-sweep": {"task": "support.tasks.outbox_sweep_task", "schedule": 10.0},
    # Ad boosts: retries, read-backs of unknown changes, executions whose worker died.
    "ads-boost-sweep": {"task": "ads.tasks.boost_sweep_task", "schedule": 5.0},
}

# --- People ------------------------------------------------------------------------------

AUTH_USER_MODEL = "rooms.User"
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Messages can carry a secret shown once (a new ingest secret): keep them server-side.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Language and time -------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static files ------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "mcn_console" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# ServeStatic: WhiteNoise's successor, serving files asynchronously under ASGI.
SERVESTATIC_USE_FINDERS = DEBUG

# --- API ---------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rooms.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_RATES": {"auth": env("MCN_AUTH_THROTTLE", default="30/minute")},
    # Client addresses come from the ASGI server, which applies trusted proxy headers
    # itself (uvicorn --proxy-headers, FORWARDED_ALLOW_IPS); never from X-Forwarded-For.
    "NUM_PROXIES": 0,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MCN Console API",
    "DESCRIPTION": "Operations API for live-commerce streams: schedule, ingest, events.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "LiveCueKindEnum": "rooms.models.LiveCueKind",
        "ProductKindEnum": "rooms.models.ProductKind",
        "ScriptCueKindEnum": "scripts.models.CueKind",
        "QuestionGroupStatusEnum": "support.models.GroupStatus",
        "AgentStatusEnum": "support.models.AgentStatus",
        "QuestionCategoryEnum": "support.models.Category",
        "BoostActionEnum": "ads.models.ActionKind",
        "BoostDecisionStatusEnum": "ads.models.DecisionStatus",
        "BoostIntentStateEnum": "ads.models.IntentState",
    },
}

# --- Security ----------------------------------------------------------------------------

SECURE = env.bool("DJANGO_SECURE", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = SECURE
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_AGE = 60 * 60 * 24 * 14
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# --- Logging -----------------------------------------------------------------------------

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env("LOG_FORMAT", default="json"),
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "uvicorn.access": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# --- The console's own settings ----------------------------------------------------------

# Ingest webhook (public contract in docs/contracts.md).
MCN_INGEST_MAX_EVENTS = 1000
MCN_INGEST_MAX_BODY_BYTES = 4 * 1024 * 1024
MCN_INGEST_MAX_SKEW_SECONDS = 300
MCN_INGEST_MAX_ATTEMPTS = env.int("MCN_INGEST_MAX_ATTEMPTS", default=8)
DATA_UPLOAD_MAX_MEMORY_SIZE = MCN_INGEST_MAX_BODY_BYTES

# An API token unused for this many days stops working (rooms/auth.py).
MCN_API_TOKEN_IDLE_DAYS = env.int("MCN_API_TOKEN_IDLE_DAYS", default=30)
if MCN_API_TOKEN_IDLE_DAYS < 1:
    raise ImproperlyConfigured("MCN_API_TOKEN_IDLE_DAYS must be at least 1 (days).")

# Event log and websockets.
MCN_EVENT_RETENTION_HOURS = env.int("MCN_EVENT_RETENTION_HOURS", default=24 * 7)
MCN_WS_HEARTBEAT_SECONDS = env.float("MCN_WS_HEARTBEAT_SECONDS", default=25.0)
MCN_WS_BATCH_SECONDS = env.float("MCN_WS_BATCH_SECONDS", default=0.05)
MCN_WS_CATCHUP_PAGE = 2000
MCN_WS_MAX_BACKLOG = 20_000
