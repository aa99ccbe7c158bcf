"""Settings for the chat site, read from the environment.

One module for every environment: production differs from development only
through environment variables (see the configuration table in README.md).
Unset ``REDIS_URL`` means embedded mode: in-process channel layer and cache.
"""

import os
import sys
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

# Public on purpose: production refuses to start with it (see below).
DEV_SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"  # noqa: S105


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on")."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    """Read a whole-number environment variable; refuse to start on anything else."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        refuse_to_start(f"{name} must be a whole number (got {value!r}).")


def refuse_to_start(sentence: str) -> None:
    """Stop start-up with one clear sentence instead of a traceback."""
    sys.stderr.write(f"chat: configuration error: {sentence}\n")
    raise SystemExit(2)


SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    refuse_to_start(
        "DEBUG is off but SECRET_KEY is the development key; set SECRET_KEY to a "
        "long random value (or DEBUG=true for local development)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "chat.middleware.InvalidTextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chat.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
try:
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
            conn_max_age=600,
            conn_health_checks=True,
        )
    }
except Exception as exc:  # dj-database-url raises several types
    refuse_to_start(f"DATABASE_URL is not a valid database URL ({exc}).")

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE takes the write
    # lock at BEGIN so two writers queue on busy_timeout instead of failing
    # with "database is locked" half-way through a transaction. Connections stay
    # open (CONN_MAX_AGE above): opening one, with its PRAGMAs, cost more than
    # the queries of a WebSocket connect.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests run daphne in child processes, which need a file, not :memory:.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and cache ---------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# The chat's own stores (history cache, presence, rate limits) use the same Redis.
CHAT_REDIS_URL = REDIS_URL

if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        refuse_to_start(
            f"REDIS_URL must start with redis://, rediss:// or unix:// (got {REDIS_URL!r})."
        )
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 defaults socket_timeout to 5 s, the same as the
                # layer's blocking-pop timeout, so idle consumers died every
                # 5 s (channels_redis#422). A longer socket timeout keeps the
                # blocking pop inside it while a dead server is still noticed.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 15,
                        "socket_connect_timeout": 5,
                        "retry_on_timeout": True,
                        # Named per process, so CLIENT LIST on a shared Redis tells
                        # each process's connections apart (docs/deploy.md, Capacity).
                        "client_name": f"chat:{os.getpid()}:layer",
                        # At most this many connections: the chat's layer calls
                        # take turns (chat.events.layer_slots) instead of opening
                        # one each, and the hub's receive holds one.
                        "max_connections": 32,
                    }
                ],
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "chat-cache",
            "OPTIONS": {
                "socket_timeout": 5,
                "socket_connect_timeout": 5,
                "client_name": f"chat:{os.getpid()}:cache",
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000, "expiry": 30},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth, sessions, security ---------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every password check goes through the sign-in throttle (chat.signin).
AUTHENTICATION_BACKENDS = ["chat.signin.ThrottledModelBackend"]
LOGIN_URL = "login"
# Password-reset mail: printed to stderr unless an SMTP host is configured (an
# unreachable default SMTP server turned a reset request into a 500).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
LOGIN_REDIRECT_URL = "chat:lobby"
LOGOUT_REDIRECT_URL = "chat:lobby"

SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HTTPS-only sites (docs/deploy.md sets both); process-local probes stay plain HTTP.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# A debug page (DEBUG on) hides these settings too: REDIS_URL and the cache and
# layer addresses carry the Redis password.
DEFAULT_EXCEPTION_REPORTER_FILTER = "chatsite.reporting.RedactingExceptionReporterFilter"

# --- I18N, static ---------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded chat files (chat.attachments) go to the "default" storage: MEDIA_ROOT
# here. The chat serves them itself, after its access checks; never let a web server
# publish this directory (docs/deploy.md). CHAT_FILE_STORAGE may name another alias.
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Logging: one line per event, room and user ids in the message --------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s"}
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["stderr"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}

# --- Chat limits (read only through chat.conf) -----------------------------
CHAT_MAX_MESSAGE_LENGTH = env_int("CHAT_MAX_MESSAGE_LENGTH", 4000)
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 65536)
CHAT_RATE_LIMIT = os.environ.get("CHAT_RATE_LIMIT", "10/10s")
CHAT_READY_HISTORY = env_int("CHAT_READY_HISTORY", 50)
CHAT_HISTORY_PAGE_MAX = env_int("CHAT_HISTORY_PAGE_MAX", 100)
CHAT_RECOVERY_LIMIT = env_int("CHAT_RECOVERY_LIMIT", 1000)
CHAT_CACHE_MESSAGES = env_int("CHAT_CACHE_MESSAGES", 200)
CHAT_MAX_CONNECTIONS_PER_USER = env_int("CHAT_MAX_CONNECTIONS_PER_USER", 20)
# Sidebar sockets (/ws/me/) per user; empty: the same as CHAT_MAX_CONNECTIONS_PER_USER.
CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER = os.environ.get("CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER", "")
CHAT_MAX_CONNECTIONS_PER_IP = env_int("CHAT_MAX_CONNECTIONS_PER_IP", 200)
CHAT_IDLE_TIMEOUT = env_int("CHAT_IDLE_TIMEOUT", 3600)
CHAT_MAX_REQUEST_BYTES = env_int("CHAT_MAX_REQUEST_BYTES", 12 * 1024 * 1024)
CHAT_MAX_UPLOAD_BYTES = env_int("CHAT_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
CHAT_UPLOAD_QUOTA_BYTES = env_int("CHAT_UPLOAD_QUOTA_BYTES", 1024 * 1024 * 1024)
CHAT_UPLOAD_RATE = os.environ.get("CHAT_UPLOAD_RATE", "20/m")
CHAT_SEARCH_RATE = os.environ.get("CHAT_SEARCH_RATE", "30/m")
CHAT_FILE_STORAGE = os.environ.get("CHAT_FILE_STORAGE", "default")
CHAT_WEBSOCKET_COMPRESSION = env_bool("CHAT_WEBSOCKET_COMPRESSION", False)
# Proxies whose X-Forwarded-For names the client (e.g. "127.0.0.1" behind a local nginx).
CHAT_TRUSTED_PROXIES = env_list("CHAT_TRUSTED_PROXIES", "")
if CHAT_TRUSTED_PROXIES:
    # Behind a TLS-terminating proxy that sets this header (docs/deploy.md's nginx does).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# API tokens expire this long after issue ("90d", "12h", seconds); empty: never.
CHAT_TOKEN_TTL = os.environ.get("CHAT_TOKEN_TTL", "")
# /metrics: open with DEBUG; otherwise a bearer token or these addresses.
CHAT_METRICS_TOKEN = os.environ.get("CHAT_METRICS_TOKEN", "")
CHAT_METRICS_ADDRESSES = env_list("CHAT_METRICS_ADDRESSES", "")
# Redis mode: a process's presence lease; its users leave at most ~1.3x this after it dies.
CHAT_PRESENCE_LEASE_SECONDS = env_int("CHAT_PRESENCE_LEASE_SECONDS", 30)
# The chat's pages extend the demo's own base template (templates/base.html).
CHAT_BASE_TEMPLATE = "base.html"
