"""The servers under test as child processes: product, tutorial, daphne floor, raw.

Each starts on a free port of 127.0.0.1 with a raised open-files limit (10,000
connections need more than the usual 1,024), logs to files in the run's work
directory, and is stopped by its pid (SIGTERM, then SIGKILL), children included.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def raise_nofile() -> None:
    """Raise the soft open-files limit to the hard one (a ``preexec_fn``, and for ourselves)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """One server process listening on ``port``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        port: int,
        log_dir: Path,
        cwd: Path = BASE_DIR,
    ):
        self.name = name
        self.cwd = cwd
        self.argv = argv
        self.env = env
        self.port = port
        self.log_path = log_dir / f"{name}-{port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base WebSocket URL, ``ws://127.0.0.1:PORT``."""
        return f"ws://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Server:
        """Start the process and return once its port accepts connections."""
        self.spawn()
        return self.wait_listening()

    def spawn(self) -> None:
        """Start the process without waiting for it (see ``wait_listening``)."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=raise_nofile,  # noqa: PLW1509 (no threads in the bench parent)
            )

    def wait_listening(self) -> Server:
        """Return once the port accepts connections; stop the process and raise if it never does."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} did not listen within {START_TIMEOUT:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)
        return self

    def _listening(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; children are killed by pid too."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_"))}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def raw_server(log_dir: Path) -> Server:
    """The plain ``websockets`` baseline (uvloop)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.baselines.raw_ws", "--host", HOST, "--port", str(port)]
    return Server("raw", argv, _base_env(), port, log_dir)


def daphne_server(log_dir: Path) -> Server:
    """The daphne floor: raw's room semantics as a bare ASGI app under stock daphne."""
    port = free_port()
    argv = [
        sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port),
        "--access-log", os.devnull,
        "bench.baselines.bare_daphne:application",
    ]  # fmt: skip
    return Server("daphne", argv, _base_env(), port, log_dir)


def tutorial_server(log_dir: Path, redis_url: str) -> Server:
    """The Channels tutorial design under daphne, its layer on ``redis_url``."""
    port = free_port()
    env = _base_env() | {
        "DJANGO_SETTINGS_MODULE": "bench.baselines.tutorial.settings",
        "BENCH_TUTORIAL_REDIS_URL": redis_url,
    }
    argv = [
        sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port),
        "--access-log", os.devnull,
        "bench.baselines.tutorial.asgi:application",
    ]  # fmt: skip
    return Server("tutorial", argv, env, port, log_dir)


def product_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The product's environment for the bench: Redis mode, no rate limit, DEBUG off."""
    return _base_env() | {
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHAT_RATE_LIMIT": "",
        "CHAT_MAX_CONNECTIONS_PER_USER": "1000000",
        "CHAT_MAX_CONNECTIONS_PER_IP": "1000000",  # every bench client is 127.0.0.1
        "LOG_LEVEL": "WARNING",
    }


def product_server(
    log_dir: Path, env: dict[str, str], index: int = 0, checkout: Path | None = None
) -> Server:
    """One product daphne process, started the one way the project starts it.

    ``checkout``: the product of another checkout of the project (``--compare-with``),
    run from there on this interpreter.
    """
    port = free_port()
    argv = [
        sys.executable, "-m", "chatsite.serve", "--host", HOST, "--port", str(port),
        "--access-log", os.devnull,
    ]  # fmt: skip
    if checkout is None:
        return Server(f"product{index}", argv, env, port, log_dir)
    env = env | {"PYTHONPATH": str(checkout)}
    return Server(f"before{index}", argv, env, port, log_dir, cwd=checkout)
