"""Root test configuration: test database, service markers, shared fixtures.

pytest-django imports the settings before any conftest runs, so environment
defaults for the settings (a test ``SECRET_KEY``) live in pyproject.toml under
``[tool.pytest.ini_options] env`` (pytest-env), not here.

Markers ``redis``, ``postgres`` and ``browser`` turn a missing service into a skip
with the reason on a developer's machine and into a failure with ``CI=true``.
"""

from __future__ import annotations

import inspect
import itertools
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.helpers import availability
from tests.helpers.accounts import PASSWORD  # every test user's; hashed once (_password_hash)
from tests.helpers.processes import DaphneServer, RedisServer

SERVICE_MARKERS = ("redis", "postgres", "browser")

# --- service markers -------------------------------------------------------------


def require(service: str) -> None:
    """Skip (or, with ``CI=true``, fail) the current test unless ``service`` is usable."""
    problem = availability.marker_problem(service)
    if problem is None:
        return
    if availability.in_ci():
        pytest.fail(f"{problem}; CI=true requires it", pytrace=False)
    pytest.skip(problem)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before the fixtures: a missing service must not surface as a fixture error.
    for marker in SERVICE_MARKERS:
        if item.get_closest_marker(marker) is not None:
            require(marker)


# --- test database ---------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
) -> Iterator[None]:
    """Give this run its own test database, named with the pid.

    Several test runs share one checkout (and one PostgreSQL server); with one
    fixed name they would drop each other's database half-way through.
    """
    from django.conf import settings

    sqlite_files: list[Path] = []
    for db in settings.DATABASES.values():
        test = db.setdefault("TEST", {})
        if db["ENGINE"].endswith("sqlite3"):
            path = Path(test.get("NAME") or Path(str(db["NAME"])).with_name(".test-db.sqlite3"))
            test["NAME"] = str(path.with_name(f"{path.stem}-{os.getpid()}{path.suffix}"))
            sqlite_files.append(Path(test["NAME"]))
            _remove_dead_runs_files(path)
        else:
            test["NAME"] = f"{test.get('NAME') or 'test_' + str(db['NAME'])}_{os.getpid()}"
    yield
    # Django removes the database file; WAL mode leaves its -wal and -shm beside it
    # when a thread still held a connection.
    for path in sqlite_files:
        if not path.exists():
            for suffix in ("-wal", "-shm", ".server.lock"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)


def _remove_dead_runs_files(path: Path) -> None:
    """Delete the per-run copies of ``path`` whose run is gone (killed, or late WAL files)."""
    stem = path.stem
    for leftover in path.parent.glob(f"{stem}-*{path.suffix}*"):
        pid = leftover.name[len(stem) + 1 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def database_url(settings_dict: dict) -> str:
    """A ``DATABASE_URL`` for the database described by a Django ``settings_dict``."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(str(settings_dict['NAME'])).resolve()}"
    if engine.endswith(("postgresql", "postgis")):
        user = quote(settings_dict.get("USER") or "", safe="")
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "localhost"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{quote(str(settings_dict['NAME']), safe='')}"
    raise NotImplementedError(f"no DATABASE_URL for {engine}")


@pytest.fixture
def live_env(transactional_db: None) -> dict[str, str]:
    """The environment for child processes (daphne, CLI): the same test database as pytest.

    Requests ``transactional_db`` because a child only sees committed rows (mark
    such tests ``@pytest.mark.django_db(transaction=True)``). Embedded mode unless
    the test adds ``REDIS_URL`` (e.g. ``live_env | {"REDIS_URL": redis_url}``).
    """
    from django.db import connection

    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    env["DATABASE_URL"] = database_url(connection.settings_dict)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("SECRET_KEY", "tests-only-secret-key-not-the-development-one")
    # Probes read /metrics from here (tests/test_metrics_access.py checks the refusals).
    env.setdefault("CHAT_METRICS_ADDRESSES", "127.0.0.1")
    return env


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def live_env_both_modes(request, live_env) -> dict[str, str]:
    """``live_env`` twice: embedded mode, then Redis mode (a ``REDIS_URL`` of this run)."""
    if request.param == "redis":
        return live_env | {"REDIS_URL": request.getfixturevalue("redis_url")}
    return live_env


# --- Redis -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_test_db() -> Iterator[int]:
    """A database number on the shared Redis that only this test run uses.

    Claimed with a lock key in DB 0 so parallel runs (other engineers, CI) never
    flush each other's data. Pub/sub channels are global across database numbers:
    code that uses pub/sub must also prefix its channel names.
    """
    import redis

    require("redis")
    client = redis.Redis(
        host=availability.SHARED_REDIS_HOST, port=availability.SHARED_REDIS_PORT, db=0
    )
    databases = int(client.config_get("databases").get("databases", 16))
    owner = f"{socket.gethostname()}:{os.getpid()}"
    for number in range(1, databases):
        key = f"chat-tests:db-lock:{number}"
        if client.set(key, owner, nx=True, ex=3600):
            break
    else:
        pytest.fail(f"all Redis test databases 1..{databases - 1} are claimed by other runs")
    try:
        yield number
    finally:
        redis.Redis(
            host=availability.SHARED_REDIS_HOST, port=availability.SHARED_REDIS_PORT, db=number
        ).flushdb()
        if client.get(key) == owner.encode():
            client.delete(key)
        client.close()


@pytest.fixture
def redis_url(redis_test_db: int) -> Iterator[str]:
    """``redis://127.0.0.1:6379/N`` on this run's own database, empty at the start of each test.

    Only ``FLUSHDB`` on that number, never ``FLUSHALL``: the server is shared.
    """
    import redis

    url = (
        f"redis://{availability.SHARED_REDIS_HOST}:{availability.SHARED_REDIS_PORT}/{redis_test_db}"
    )
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server on a free port (stop, pause, restart it freely); killed after."""
    require("redis")
    with RedisServer() as server:
        yield server


# --- modes: embedded (in-memory layer) or Redis -----------------------------------
# The consumer, CLI and moderation tests share these; per-process backends hold
# connections bound to one event loop, and each test has its own loop.


def reset_backends() -> None:
    """Forget every per-process store backend and channel layer (a new loop, new settings)."""
    from channels.layers import channel_layers

    from chat.stores import backends

    backends.reset()
    channel_layers.backends.clear()


def _use_redis(settings, url: str) -> None:
    settings.CHAT_REDIS_URL = url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": 15}]},
        }
    }


def _use_memory(settings) -> None:
    settings.CHAT_REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(params=["embedded", "redis"])
def mode(request, settings):
    """Run the test in embedded mode and in Redis mode."""
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        _use_redis(settings, request.getfixturevalue("redis_url"))
    else:
        _use_memory(settings)
    reset_backends()
    yield request.param
    reset_backends()


@pytest.fixture
def redis_mode(settings, redis_url):
    """Redis mode only (for tests about what goes through Redis); mark them ``redis``."""
    _use_redis(settings, redis_url)
    reset_backends()
    yield
    reset_backends()


@pytest.fixture
def embedded(settings):
    """Embedded mode only (for tests about the consumer's own logic)."""
    _use_memory(settings)
    reset_backends()
    yield
    reset_backends()


# --- users and rooms -------------------------------------------------------------


@pytest.fixture(scope="session")
def _password_hash() -> str:
    # Hashing with the real hasher takes a good fraction of a second; one hash of
    # the shared password serves every test user, and daphne children accept it.
    from django.contrib.auth.hashers import make_password

    return make_password(PASSWORD)


_names = itertools.count(1)


@pytest.fixture
def make_user(db: None, _password_hash: str) -> Callable[..., object]:
    """Factory: ``make_user(username=None, **fields)`` creates a user whose password is ``PASSWORD``."""
    from django.contrib.auth import get_user_model

    model = get_user_model()

    def make(username: str | None = None, **fields):
        username = username or f"user{next(_names)}"
        fields.setdefault("email", f"{username}@example.com")
        return model.objects.create(username=username, password=_password_hash, **fields)

    return make


@pytest.fixture
def user(make_user):
    """A plain signed-up user, ``alice``."""
    return make_user("alice")


@pytest.fixture
def other_user(make_user):
    """Another plain user, ``bob``."""
    return make_user("bob")


@pytest.fixture
def staff_user(make_user):
    """A superuser with admin access, ``admin``."""
    return make_user("admin", is_staff=True, is_superuser=True)


_slugs = itertools.count(1)


@pytest.fixture
def make_room(db: None) -> Callable[..., object]:
    """Factory: ``make_room(slug=None, **fields)`` creates a public room."""
    from chat.models import Room

    def make(slug: str | None = None, **fields):
        slug = slug or f"room-{next(_slugs)}"
        fields.setdefault("title", slug.replace("-", " ").title())
        return Room.objects.create(slug=slug, **fields)

    return make


@pytest.fixture
def room(make_room, user):
    """The room ``lobby`` created by ``user``."""
    return make_room("lobby", title="Lobby", created_by=user)


@pytest.fixture
def make_token(db: None) -> Callable[[object], str]:
    """Factory: ``make_token(user)`` issues a new API token for ``user``."""
    from chat import services

    return lambda user: services.issue_token(user=user)


@pytest.fixture
def token(user, make_token) -> str:
    """alice's API token."""
    return make_token(user)


@pytest.fixture
def other_token(other_user, make_token) -> str:
    """bob's API token."""
    return make_token(other_user)


# --- browsers and the site in a daphne child ---------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, shared by the tests of a module (each gets its own contexts).

    Playwright's sync API keeps an asyncio loop registered as running on this thread,
    so Django would refuse every ORM call (test data, the database flush after each
    test) as "async-unsafe". Nothing here is async: the check is off while it runs.
    """
    from playwright.sync_api import sync_playwright

    require("browser")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=availability.chromium_executable(), args=availability.CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def site_env(live_env: dict[str, str], redis_url: str) -> dict[str, str]:
    """The environment of the site's daphne processes: test database, Redis mode."""
    return live_env | {"REDIS_URL": redis_url}


@pytest.fixture
def server(site_env: dict[str, str]) -> Iterator[DaphneServer]:
    """The site in one daphne process (Redis mode), killed after the test."""
    with DaphneServer(site_env) as server:
        yield server


@pytest.fixture
def chromium_executable() -> str:
    """Path of the Chromium binary for Playwright (the test skips or fails without one)."""
    require("browser")
    return availability.chromium_executable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every coroutine test stops its loop's hub and publisher afterwards (see
    # stop_loop_services); sync tests (Playwright's, say) must not get an async fixture.
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "obj", None)):
            item.fixturenames.append("stop_loop_services")


@pytest.fixture
async def stop_loop_services():
    """Stop this loop's hub and publisher so no task outlives the test's event loop.

    Left to the loop's own teardown, a hub blocked in channels-redis' receive could
    hold the test for a minute (seen once in CI, in a CLI test that lacked this).
    """
    yield
    import asyncio

    from chat.events.publisher import Publisher
    from chat.realtime.hub import Hub

    hub = Hub.existing()
    if hub is not None:
        await hub.stop()
    await Publisher.stop_current()
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    if pending:
        done, still = await asyncio.wait(pending, timeout=3)
        assert not still, f"tasks ignore cancellation: {still}"


@pytest.fixture(autouse=True)
def _fresh_windows() -> Iterator[None]:
    """Sliding windows (sign-in throttle, sign-up and room limits) do not leak between tests."""
    from chat.stores import backends

    backends.reset("windows")
    yield
    backends.reset("windows")


# --- files -----------------------------------------------------------------------


@pytest.fixture
def media_root(settings, tmp_path):
    """Uploaded files go to a fresh directory (the default storage's MEDIA_ROOT)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"
