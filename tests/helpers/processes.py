"""Real child processes for tests: daphne (through ``chatsite.serve``) and redis-server.

Modelled on ``daphne/testing.py`` but as real subprocesses, so tests can kill,
pause and restart them like an operator (or a crash) would. Every child is
stopped by its pid when the ``with`` block ends, and output goes to files (a
pipe nobody reads would block a chatty child).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' when missing)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class ChildProcess:
    """A subprocess with its output in files, stopped by pid."""

    name = "child"
    # The working directory of the child (a host project's, for daphne outside the repo).
    cwd: Path = BASE_DIR

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"chat-{self.name}-"))
        self.starts = 0

    @property
    def pid(self) -> int:
        """The pid of the running child."""
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"stdout-{self.starts}.log"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"stderr-{self.starts}.log"

    def stderr_tail(self, lines: int = 40) -> str:
        """The end of the current run's stderr."""
        return tail(self.stderr_path, lines)

    def output(self) -> str:
        """Everything the current run wrote to stdout and stderr."""
        return tail(self.stdout_path, 10**6) + "\n" + tail(self.stderr_path, 10**6)

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _spawn(self, argv: list[str], env: dict[str, str] | None) -> None:
        if self.is_running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.starts += 1
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )

    def _fail_start(self, why: str) -> None:
        detail = self.stderr_tail()
        self.kill()
        raise RuntimeError(f"{self.name} did not start: {why}\n--- stderr tail ---\n{detail}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Send ``sig`` and wait for the exit (SIGKILL after ``timeout``); return the status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                os.kill(self.process.pid, sig)
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            except ProcessLookupError:
                pass
        return self.process.wait()

    def kill(self) -> int | None:
        """SIGKILL: the child dies without cleaning up, like a crash."""
        return self.stop(signal.SIGKILL)

    def cleanup(self) -> None:
        """Kill the child and remove its log directory."""
        self.kill()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.cleanup()


class DaphneServer(ChildProcess):
    """The chat site in a daphne child process, started through ``python -m chatsite.serve``.

    ``env`` is the child's whole environment (use the ``live_env`` fixture so it
    shares the test database). ``start()`` returns once ``GET /healthz`` answers.
    """

    name = "daphne"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_args: list[str] | tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.env = dict(env if env is not None else os.environ)
        self.host = host
        self.port = port or free_port(host)
        self.extra_args = list(extra_args)

    @property
    def url(self) -> str:
        """The site's base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{self.host}:{self.port}"

    def ws_url(self, path: str = "/") -> str:
        """A ``ws://`` URL on this server."""
        return f"ws://{self.host}:{self.port}{path}"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "chatsite.serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--access-log",
            os.devnull,
            *self.extra_args,
        ]

    def start(self, env: dict[str, str] | None = None, timeout: float = STARTUP_TIMEOUT):
        """Start daphne (with ``env`` replacing the environment, if given) and wait for it."""
        if env is not None:
            self.env = dict(env)
        self._spawn(self.argv(), self.env)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                self._fail_start(f"exited with status {self.process.returncode}")
            if time.monotonic() > deadline:
                self._fail_start(f"GET /healthz did not answer within {timeout:g}s")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True  # a 503 is an answer: the server is up, a backend is not
        except OSError:
            return False

    def restart(self, sig: int = signal.SIGTERM, env: dict[str, str] | None = None):
        """Stop with ``sig`` and start again on the same port."""
        self.stop(sig)
        return self.start(env)

    def __enter__(self):
        if not self.is_running():
            self.start()
        return self


class RedisServer(ChildProcess):
    """A private redis-server on a free port, for tests that stop, pause or restart Redis.

    Never touch the shared Redis on 6379 that way; use this instead.
    """

    name = "redis"

    def __init__(self, port: int | None = None, *, binary: str = "redis-server") -> None:
        super().__init__()
        self.port = port or free_port()
        self.binary = binary

    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:PORT/DB``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0, timeout: float = 2.0):
        """A redis-py client to this server."""
        import redis

        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            db=db,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )

    def start(self, timeout: float = 10.0):
        """Start redis-server and wait until it answers PING."""
        argv = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.log_dir),
            "--daemonize",
            "no",
        ]
        self._spawn(argv, None)
        deadline = time.monotonic() + timeout
        while not self._pings():
            if self.process.poll() is not None:
                self._fail_start(f"exited with status {self.process.returncode}")
            if time.monotonic() > deadline:
                self._fail_start(f"no PING answer within {timeout:g}s")
            time.sleep(0.02)
        return self

    def _pings(self) -> bool:
        import redis

        try:
            with self.client(timeout=0.5) as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def restart(self):
        """Stop and start again on the same port (empty: nothing is saved)."""
        self.stop()
        return self.start()

    def pause(self, seconds: float) -> None:
        """Make the server answer no command for ``seconds`` (CLIENT PAUSE ALL), like a hang.

        It cannot be lifted early: under PAUSE ALL even CLIENT UNPAUSE waits.
        """
        with self.client() as client:
            client.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")

    def __enter__(self):
        if not self.is_running():
            self.start()
        return self
