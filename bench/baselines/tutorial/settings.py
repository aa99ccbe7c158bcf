"""Settings of the tutorial baseline: channels-redis core layer, nothing else of note.

``BENCH_TUTORIAL_REDIS_URL`` selects the Redis database (the bench uses its own DB
number so it never meets the product's keys).
"""

import os

SECRET_KEY = "bench-tutorial-not-secret"  # noqa: S105 (a local benchmark, never deployed)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]

ASGI_APPLICATION = "bench.baselines.tutorial.asgi.application"
# AuthMiddlewareStack needs auth and sessions configured; without a session cookie
# it never queries this database, so an in-memory one is enough.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # The tutorial's config, plus two fixes it needs with redis-py 8 (the
            # tutorial predates it): the 5 s socket timeout equals the layer's
            # blocking-pop timeout and kills idle consumers (channels_redis#422), and
            # the pool's new default of 100 connections makes 1,000 concurrent
            # connects fail with MaxConnectionsError instead of waiting.
            "hosts": [
                {
                    "address": os.environ.get(
                        "BENCH_TUTORIAL_REDIS_URL", "redis://127.0.0.1:6379/15"
                    ),
                    "socket_timeout": 15,
                    "max_connections": 2000,
                }
            ],
            "prefix": "bench-tutorial",
        },
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
