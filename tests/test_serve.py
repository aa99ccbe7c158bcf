"""``python -m chatsite.serve``: daphne's command line from the settings, and start-up checks.

A bad configuration must stop start-up with one sentence on stderr and exit 2.
"""

import gc
import sys

import pytest

from chat.serve import GC_YOUNG_THRESHOLD, daphne_argv, tune_garbage_collection
from tests.helpers.child import child_env, run
from tests.helpers.processes import free_port

PREFIX = "chat: configuration error: "


def serve(env: dict[str, str]):
    """Start the server with ``env``; these configurations must make it exit at once."""
    return run([sys.executable, "-m", "chatsite.serve", "--port", str(free_port())], env)


def assert_refused(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(PREFIX), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


def test_an_ipv6_host_is_escaped_in_the_endpoint():
    argv = daphne_argv(host="[::1]", port=9000)

    assert argv[argv.index("--endpoint") + 1].startswith(r"tcp:port=9000:interface=\:\:1:")


def test_daphne_gets_the_frame_limit_from_chat_settings(settings):
    settings.CHAT_MAX_FRAME_BYTES = 4096

    argv = daphne_argv(host="127.0.0.1", port=9000, extra=["--verbosity", "2"])

    assert argv[argv.index("--websocket-max-message-size") + 1] == "4096"
    assert argv[argv.index("--websocket-max-frame-size") + 1] == "4096"
    endpoint = argv[argv.index("--endpoint") + 1]
    assert endpoint == "tcp:port=9000:interface=127.0.0.1:backlog=4096"
    assert "--application-close-timeout" in argv
    assert "--ping-interval" in argv
    assert argv[argv.index("--verbosity") + 1] == "2"
    assert argv[-1] == "chatsite.asgi:application"


@pytest.mark.processes
def test_debug_off_with_the_development_secret_key_refuses_to_start():
    result = serve(child_env(SECRET_KEY=None, DEBUG=None))

    assert_refused(result, "SECRET_KEY is the development key")


@pytest.mark.processes
@pytest.mark.parametrize(
    ("database_url", "fragment"),
    [
        ("nosuchdb://somewhere/db", "DATABASE_URL is not a valid database URL"),
        ("sqlite:////nonexistent-directory/chat.sqlite3", "cannot use the database"),
        ("postgres://postgres@127.0.0.1:{port}/chat", "cannot use the database"),
    ],
    ids=["unknown-scheme", "sqlite-unreachable-path", "postgres-nobody-listening"],
)
def test_bad_database_url_refuses_to_start(database_url, fragment):
    result = serve(child_env(DATABASE_URL=database_url.format(port=free_port())))

    assert_refused(result, fragment)


@pytest.mark.processes
def test_password_in_database_url_is_not_printed():
    url = f"postgres://chat:hunter2@127.0.0.1:{free_port()}/chat"

    result = serve(child_env(DATABASE_URL=url))

    assert_refused(result, "postgresql://chat@127.0.0.1:")
    assert "hunter2" not in result.stderr


@pytest.mark.processes
def test_database_without_migrations_refuses_to_start(tmp_path):
    result = serve(child_env(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}"))

    assert_refused(result, "unapplied migration", "manage.py migrate")


@pytest.mark.processes
def test_unreachable_redis_refuses_to_start(live_env):
    result = serve(live_env | {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})

    assert_refused(result, "cannot reach Redis at CHAT_REDIS_URL", "REDIS_URL in the demo")


@pytest.mark.processes
@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("REDIS_URL", "localhost:6379", "REDIS_URL must start with redis://"),
        ("CHAT_RATE_LIMIT", "lots", "CHAT_RATE_LIMIT must look like"),
        ("CHAT_MAX_FRAME_BYTES", "64k", "CHAT_MAX_FRAME_BYTES must be a whole number"),
        ("CHAT_READY_HISTORY", "0", "CHAT_READY_HISTORY must be at least 1"),
    ],
)
def test_bad_chat_setting_refuses_to_start(live_env, variable, value, fragment):
    result = serve(live_env | {variable: value})

    assert_refused(result, fragment)


# --- asgi_application: the host's setting in daphne's form ------------------------


def test_asgi_application_is_the_setting_as_module_colon_attribute(settings):
    from chat.serve import asgi_application

    settings.ASGI_APPLICATION = "mysite.deep.asgi.application"
    assert asgi_application() == "mysite.deep.asgi:application"


@pytest.mark.parametrize("value", [None, ""])
def test_asgi_application_missing_is_a_configuration_error(settings, value):
    from chat.serve import ConfigurationError, asgi_application

    if value is None:
        del settings.ASGI_APPLICATION
    else:
        settings.ASGI_APPLICATION = value
    with pytest.raises(ConfigurationError, match="ASGI_APPLICATION is not set"):
        asgi_application()


def test_startup_objects_are_kept_out_of_garbage_collection():
    before, threshold = gc.get_freeze_count(), gc.get_threshold()
    try:
        tune_garbage_collection()
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        # Everything alive is frozen: a full collection has (almost) nothing to walk.
        assert gc.get_freeze_count() > before
        assert len(gc.get_objects()) < gc.get_freeze_count() / 10
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
