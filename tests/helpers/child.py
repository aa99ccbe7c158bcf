"""Run Python in a child process with a chosen environment (settings are module-level)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers.processes import BASE_DIR

TEST_SECRET = "tests-only-secret-key-not-the-development-one"
# Variables of the developer's or CI's shell that would change which mode loads.
CONFIG_VARIABLES = ("SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS")


def child_env(**overrides: str | None) -> dict[str, str]:
    """A clean environment for a child: no chat configuration but ``overrides``.

    ``None`` removes a variable.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CONFIG_VARIABLES and not k.startswith("CHAT_")
    }
    env["DJANGO_SETTINGS_MODULE"] = "chatsite.settings"
    env["SECRET_KEY"] = TEST_SECRET
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(argv: list[str], env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    """Run ``argv`` in the repository with ``env``; capture text output."""
    return subprocess.run(
        argv, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


SETTINGS_DUMP = """
import json
from django.conf import settings
print(json.dumps({
    "CHANNEL_LAYERS": settings.CHANNEL_LAYERS,
    "CACHES": settings.CACHES,
    "DATABASES": settings.DATABASES,
    "REDIS_URL": settings.REDIS_URL,
    "DEBUG": settings.DEBUG,
}, default=str))
"""


def settings_with(**env: str | None) -> dict:
    """The settings a process started with ``env`` loads, as JSON-able dicts."""
    result = run([sys.executable, "-c", SETTINGS_DUMP], child_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
