"""Start the chat server: check the configuration, then run daphne in this process.

    python -m chat.serve [--host 127.0.0.1] [--port 8000] [daphne options ...]

The one way every daphne process of this project starts (``make run``,
``make run-cluster``, the tests and the benchmarks), so the WebSocket limits that
the contract promises are always the ones from the settings. Unknown options are
passed to daphne unchanged (e.g. ``--access-log /dev/null``), except daphne's
``--proxy-headers``, which believes any client's ``X-Forwarded-For``: the chat reads
that header itself, from ``CHAT_TRUSTED_PROXIES`` only.

A bad configuration stops start-up with one sentence on stderr, prefixed
``chat: configuration error:``, and exit status 2.
"""

from __future__ import annotations

# daphne.server installs Twisted's asyncio reactor; it must be imported before
# anything imports twisted.internet.reactor.
import daphne.server  # isort:skip

import argparse
import gc
import os
import sys
from collections.abc import Sequence

import django
from daphne.cli import CommandLineInterface
from django.core.exceptions import ImproperlyConfigured

from chat.realtime import body_limit, compression
from chat.realtime.internals import daphne_queue, startup, transport
from chat.realtime.internals import protocol as chat_protocol
from chat.realtime.internals.protocol import SCOPE_KEY, ChatWebSocketProtocol

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# Seconds a consumer has to finish (presence leave, group discard) after its client
# went away before daphne kills it.
APPLICATION_CLOSE_TIMEOUT = 10
# Keepalive: ping a WebSocket idle this long, drop it when the pong takes longer
# than PING_TIMEOUT. Dead peers (laptops closed, NAT timeouts) leave within ~50 s,
# inside the 60 s the contract gives presence.
PING_INTERVAL = 20
PING_TIMEOUT = 30


class ConfigurationError(Exception):
    """A configuration the server cannot start with; the message is one sentence."""


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """Split our options from the ones passed through to daphne."""
    parser = argparse.ArgumentParser(
        prog="python -m chat.serve",
        description="Run the chat site with daphne (HTTP and WebSocket).",
        epilog="Other options are passed to daphne unchanged.",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port (default %(default)s)"
    )
    parser.add_argument(
        "--start-without-redis",
        action="store_true",
        help="start even if Redis does not answer yet (a fleet started before its Redis); "
        "/healthz answers 503 and WebSockets are refused until it does",
    )
    return parser.parse_known_args(argv)


LISTEN_BACKLOG = 4096
WEBSOCKET_CONNECT_TIMEOUT = 30


def daphne_argv(*, host: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """daphne's command line for this site, its limits taken from the settings."""
    from chat.conf import chat_settings

    if any(option.startswith("--proxy-headers") for option in extra):
        raise ConfigurationError(
            "--proxy-headers believes any client's X-Forwarded-For; drop it and list your "
            "proxies in CHAT_TRUSTED_PROXIES instead."
        )
    max_frame = chat_settings().max_frame_bytes
    interface = host.strip("[]").replace(":", r"\:")  # endpoint syntax escapes IPv6 colons
    return [
        # An endpoint rather than --bind/--port, for the listen backlog: Twisted's
        # default of 50 overflowed when a thousand clients reconnected at once, and
        # each dropped SYN costs the client a second before it retries.
        "--endpoint",
        f"tcp:port={port}:interface={interface}:backlog={LISTEN_BACKLOG}",
        # Limits both directions: daphne refuses larger incoming messages and fails
        # a larger send, so the server also cuts its own frames to this size.
        "--websocket-max-message-size",
        str(max_frame),
        "--websocket-max-frame-size",
        str(max_frame),
        "--application-close-timeout",
        str(APPLICATION_CLOSE_TIMEOUT),
        "--ping-interval",
        str(PING_INTERVAL),
        "--ping-timeout",
        str(PING_TIMEOUT),
        # A crowd arriving at once may wait longer than daphne's default 5 s to be
        # accepted; refusing them only makes them come back.
        "--websocket_connect_timeout",
        str(WEBSOCKET_CONNECT_TIMEOUT),
        # No forced reconnect once a day: keepalive pings find dead peers.
        "--websocket_timeout",
        "-1",
        *extra,
        asgi_application(),
    ]


def asgi_application() -> str:
    """The host's ``ASGI_APPLICATION`` setting in daphne's ``module:attribute`` form."""
    from django.conf import settings

    dotted = getattr(settings, "ASGI_APPLICATION", None)
    if not dotted:
        raise ConfigurationError(
            "ASGI_APPLICATION is not set; point it at your asgi.py's application "
            '(e.g. "mysite.asgi.application").'
        )
    module, _, attribute = dotted.rpartition(".")
    return f"{module}:{attribute}"


def describe_database() -> str:
    """``vendor://user@host:port/name`` of the default database, never its password."""
    from django.conf import settings
    from django.db import connections

    database = settings.DATABASES["default"]
    vendor = connections["default"].vendor
    user = f"{database['USER']}@" if database.get("USER") else ""
    host = database.get("HOST") or ""
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"{vendor}://{user}{host}{port}/{database.get('NAME')}"


def check_configuration(*, require_redis: bool = True) -> None:
    """Raise ``ConfigurationError`` unless the settings, database and Redis are usable."""

    from chat import health
    from chat.conf import chat_settings

    try:
        chat_settings()
    except ImproperlyConfigured as exc:
        raise ConfigurationError(str(exc)) from None

    where = describe_database()
    problem = health.database_problem()
    if problem:
        raise ConfigurationError(
            f"cannot use the database {health.redact(where)} ({problem}); "
            "check the DATABASES setting (DATABASE_URL in the demo) and that the database server is running."
        )
    pending = health.unapplied_migrations()
    if pending:
        raise ConfigurationError(
            f"the database {health.redact(where)} has {len(pending)} unapplied migration(s) "
            f"(first: {pending[0]}); run `python manage.py migrate` first."
        )

    redis_url = chat_settings().redis_url
    if redis_url:
        problem = health.redis_problem(redis_url, timeout=3.0)
        if problem and not require_redis:
            sys.stderr.write(
                f"chat: warning: cannot reach Redis at CHAT_REDIS_URL={health.redact(redis_url)} "
                f"({problem}); starting anyway (--start-without-redis).\n"
            )
        elif problem:
            raise ConfigurationError(
                f"cannot reach Redis at CHAT_REDIS_URL={health.redact(redis_url)} ({problem}); "
                "start Redis, or unset CHAT_REDIS_URL (REDIS_URL in the demo) to run in "
                "embedded mode."
            )


def refuse(sentence: str) -> int:
    """Print the configuration error the way the settings module does; return the exit status."""
    sys.stderr.write(f"chat: configuration error: {sentence}\n")
    sys.stderr.flush()
    return 2


def _installed_on_assignment(name: str, install):
    """An attribute that stores ``install(value)`` whenever ``value`` is assigned to it."""

    def get(server):
        return server.__dict__.get(name)

    def set_(server, value) -> None:
        server.__dict__[name] = install(value)

    return property(get, set_)


class ChatServer(daphne.server.Server):
    """daphne's server with the chat's WebSocket protocol, HTTP body limit and lifecycle hooks."""

    # daphne's run() makes its two factories just before listening: each is swapped
    # for the chat's as it is assigned. The WebSocket factory's public ``protocol``
    # attribute chooses the class of every WebSocket connection; the HTTP factory's
    # requests refuse bodies over CHAT_MAX_REQUEST_BYTES before reading them.
    ws_factory = _installed_on_assignment(
        "ws_factory", lambda factory: chat_protocol.install(compression.enable(factory))
    )
    http_factory = _installed_on_assignment("http_factory", body_limit.limited)

    def create_application(self, protocol, scope):
        if isinstance(protocol, ChatWebSocketProtocol):
            # The consumer writes to the protocol through this, whatever wraps send.
            scope[SCOPE_KEY] = protocol
        if daphne_queue.LIGHT_INPUT_QUEUE.ok():
            return daphne_queue.create_application(self, protocol, scope)
        return super().create_application(protocol, scope)

    def listen_success(self, port):
        super().listen_success(port)
        transport.install(port)  # each connection's transport in a class of our own

    def kill_all_applications(self):
        # Graceful shutdown. On SIGTERM/SIGINT Twisted runs its "before shutdown"
        # triggers all at once, so a trigger of our own could not run before daphne's
        # (which cancels every application): extend daphne's instead. Close every
        # WebSocket with 1001 and finish commits, then let daphne cancel the rest.
        from chat.realtime import shutdown

        return shutdown.before_kill(super().kill_all_applications)


class ChatCommandLine(CommandLineInterface):
    """daphne's command line, running ``ChatServer``."""

    server_class = ChatServer


def main(argv: Sequence[str] | None = None) -> int:
    """Check the configuration and serve until stopped; return the exit status."""
    args, extra = parse_args(argv)
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return refuse("DJANGO_SETTINGS_MODULE is not set; export it (e.g. mysite.settings).")
    try:
        # Settings that refuse to load print their own sentence and exit 2.
        django.setup()
        check_configuration(require_redis=not args.start_without_redis)
        from chat import embedded_lock

        embedded_lock.claim()  # embedded mode is one process: refuse a second
        argv = daphne_argv(host=args.host, port=args.port, extra=extra)
    except ConfigurationError as exc:
        return refuse(str(exc))
    except ImproperlyConfigured as exc:
        return refuse(str(exc))
    except Exception as exc:  # last resort: still one sentence, not a traceback
        return refuse(f"start-up failed ({type(exc).__name__}: {exc}).")

    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"chat: serving http://{shown}:{args.port}/ (pid {os.getpid()})", flush=True)
    # Connections opened by the checks belong to this thread, not to the server's.
    from django.db import connections

    connections.close_all()
    # Each optimisation whose library internals changed is reported off here, once.
    startup.check_and_install()
    tune_garbage_collection()
    ChatCommandLine().run(argv)
    return 0


# Container allocations between two young-generation collections (Python's default: 700).
GC_YOUNG_THRESHOLD = 20_000


def tune_garbage_collection() -> None:
    """Collect garbage less often, and never walk what start-up built.

    A connect storm allocates fast: with Python's defaults a storm of 3,000
    connections ran ~600 collections, and the full ones walked every object of the
    process, start-up's ~100,000 included (Django and the apps, alive as long as the
    process): 0.1 s each on a busy machine, while handshakes wait on the event loop.
    Measured with 3,000 connections over 30 rooms: collection time 2.4 s → 0.45 s. Reference
    counting still frees almost everything at once; only cyclic garbage waits longer,
    at most 20,000 allocations' worth.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


if __name__ == "__main__":
    sys.exit(main())
