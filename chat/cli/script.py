"""Scripting and follow modes: stdin lines become messages, room messages become JSON lines.

Scripting (stdin is not a terminal): every non-empty line is one message. The
client exits once each is acknowledged: 0 when all were stored, 1 (naming the
lines) when the server refused some. ``--follow`` prints the room's messages to
stdout as JSON lines and keeps running after stdin ends. Notices go to stderr, so
stdout stays machine-readable.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, TextIO

from chat.cli import render
from chat.cli.session import Outgoing, RoomSession
from chat.cli.site import Exit, ExitStatus
from chat.wire.protocol import ServerType


class ScriptListener:
    """Counts acks and failures; prints JSON lines when following."""

    def __init__(
        self, *, slug: str, follow: bool, print_first: bool, quiet: bool, out: TextIO, err: TextIO
    ) -> None:
        self.slug = slug
        self.follow = follow
        self.print_first = print_first  # --since: print what the first ready recovers
        self.quiet = quiet
        self.out = out
        self.err = err
        self.sent = 0
        self.failures: list[str] = []
        self.output_closed = asyncio.Event()

    def note(self, text: str) -> None:
        if not self.quiet:
            self.err.write(f"chat: {text}\n")
            self.err.flush()

    def _emit(self, frame: dict[str, Any]) -> None:
        if not self.follow or self.output_closed.is_set():
            return
        try:
            self.out.write(render.json_line(frame) + "\n")
            self.out.flush()
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, like other Unix tools.
            self.output_closed.set()

    def connected(self, ready: dict[str, Any], *, reconnect: bool, new: list[dict]) -> None:
        if reconnect:
            self.note(f"reconnected to #{self.slug}")
        else:
            self.note(f"connected to #{self.slug} as {render.clean(str(ready.get('user')))}")
        muted = ready.get("muted")
        if isinstance(muted, dict):
            self.note(render.mute_line(muted.get("until")))
        if ready.get("recovered") is False:
            self.note(
                "warning: more messages were missed than the server keeps for recovery; "
                "some are not shown"
            )
        if reconnect or self.print_first:
            for message in new:
                self._emit({"type": ServerType.MESSAGE, **message})

    def message(self, payload: dict[str, Any]) -> None:
        self._emit(payload)

    def frame(self, frame: dict[str, Any]) -> None:
        # Edits, deletions and restores as they are: a program applies them by id.
        if frame.get("type") in (ServerType.UPDATE, ServerType.DELETED):
            self._emit(frame)
        elif frame.get("type") == ServerType.ERROR:
            self.note(f"server error ({frame.get('code')}): {frame.get('detail')}")
        elif frame.get("type") == ServerType.UPDATE:
            self._emit(frame)  # a message changed (reactions): its whole current state

    def status(self, text: str) -> None:
        self.note(text)

    def acked(self, item: Outgoing, ack: dict[str, Any]) -> None:
        self.sent += 1

    def failed(self, item: Outgoing, code: str, detail: str) -> None:
        self.failures.append(item.label)
        # Always said, even with --quiet: the exit status alone does not say which line.
        self.err.write(f"chat: {item.label} not sent ({code}): {detail}\n")
        self.err.flush()


def start_line_reader(stream, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Read ``stream`` (binary) line by line in a daemon thread; ``None`` marks the end.

    A daemon thread, not the loop's executor: a pipe that never ends (``tail -f``)
    must not keep the client from exiting. Undecodable bytes are kept as lone
    surrogates, so the server refuses that line with a clear error instead of the
    client guessing.
    """
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="chat-stdin", daemon=True).start()
    return queue


async def run_script(
    session: RoomSession, listener: ScriptListener, stdin=None, *, read_input: bool = True
) -> int:
    """Send stdin's lines, wait for their acks; keep following if asked. Return the exit status."""
    loop = asyncio.get_running_loop()
    runner = loop.create_task(session.run())
    feeder = loop.create_task(_feed(session, stdin or sys.stdin.buffer) if read_input else _never())
    stopper = loop.create_task(listener.output_closed.wait())
    try:
        while True:
            done, _ = await asyncio.wait(
                {runner, feeder, stopper}, return_when=asyncio.FIRST_COMPLETED
            )
            if runner in done:
                runner.result()  # raises Exit; a normal return means close() was called
                break
            if stopper in done:
                await session.close()
                await runner
                return ExitStatus.OK
            if feeder in done and not listener.follow:
                await session.close()
                await runner
                break
            if feeder in done:
                feeder = loop.create_task(_never())
    except Exit as exit_:
        if session.pending:
            exit_.message += f"; {session.pending} message(s) were not sent"
        raise
    finally:
        for task in (runner, feeder, stopper):
            task.cancel()
    if listener.failures:
        listener.note(
            f"{len(listener.failures)} of {listener.sent + len(listener.failures)} messages were not sent"
        )
        return ExitStatus.NOT_SENT
    listener.note(f"{listener.sent} message(s) sent to #{listener.slug}")
    return ExitStatus.OK


async def _feed(session: RoomSession, stdin) -> None:
    """Queue each non-empty input line, then wait until every one is answered."""
    lines = start_line_reader(stdin, asyncio.get_running_loop())
    number = 0
    while (line := await lines.get()) is not None:
        number += 1
        if line.strip():
            session.send(line, label=f"line {number}")
    await session.idle.wait()


async def _never() -> None:
    await asyncio.Event().wait()
