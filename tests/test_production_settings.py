"""Production as documented: DEBUG off, `check --deploy` silent, no password on a debug page."""

from __future__ import annotations

import re
import subprocess
import sys

from chatsite.reporting import RedactingExceptionReporterFilter
from tests.helpers.child import child_env, run
from tests.helpers.processes import BASE_DIR


def documented_env() -> dict[str, str]:
    """The variables of docs/deploy.md's ``/etc/chat/env`` block, placeholders filled in."""
    text = (BASE_DIR / "docs" / "deploy.md").read_text()
    block = re.search(r"```sh\n# /etc/chat/env.*?\n(.*?)```", text, re.S).group(1)
    env = {}
    for line in block.splitlines():
        name, _, value = line.partition("=")
        env[name.strip()] = value.strip()
    env["SECRET_KEY"] = "x" * 60 + "long-random-production-like-value-0123456789"
    # The documented database and Redis hosts do not exist here; check needs neither.
    env.pop("DATABASE_URL")
    env.pop("REDIS_URL")
    return env


def test_the_documented_production_env_leaves_debug_off_and_check_deploy_silent():
    env = documented_env()
    assert "DEBUG" not in env

    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        child_env(**env),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


def test_run_cluster_defaults_to_debug_off_and_run_to_debug_on():
    def dry_run(target: str) -> str:
        env = child_env(DEBUG=None)
        return subprocess.run(
            ["make", "-n", target],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "DEBUG=${DEBUG:-false}" in dry_run("run-cluster")
    assert "DEBUG=${DEBUG:-true}" not in dry_run("run-cluster")
    assert "DEBUG=${DEBUG:-true}" in dry_run("run")


def test_the_debug_page_hides_the_redis_password(settings):
    settings.CHAT_REDIS_URL = "redis://:hunter2@redis.internal:6379/0"
    settings.CACHES = {"default": {"LOCATION": settings.REDIS_URL}}

    shown = str(RedactingExceptionReporterFilter().get_safe_settings())

    assert "hunter2" not in shown
