"""Interactive mode: the room's messages above, an input line below that nothing garbles.

prompt_toolkit owns the terminal; ``patch_stdout`` makes every ``print`` from the
connection redraw the prompt (and what is typed in it) below the new text.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chat.cli import render
from chat.cli.session import Outgoing, RoomSession
from chat.wire.protocol import ServerType, apply_presence

DEFAULT_HISTORY_PAGE = 20
QUIT_WAIT = 5.0  # seconds /quit waits for messages still unacknowledged
MAX_KNOWN = 5000  # messages remembered for /react (the newest)

HELP = """\
-- commands:
--   /history [N]  show N earlier messages (default 20)
--   /who          who is online
--   /react [SEQ] EMOJI  react to message SEQ (default the latest); again to take it back
--   /quit         leave (also Ctrl-D)
--   //text        send a message that starts with /"""


def say(text: str) -> None:
    # print, not sys.stdout.write: patch_stdout redraws the prompt below it.
    print(text, flush=True)  # noqa: T201


class InteractiveView:
    """Prints what happens in the room, and remembers what /who and /history need."""

    def __init__(self, slug: str, base: str = "") -> None:
        self.slug = slug
        self.base = base  # the site's URL, for links to files
        self.user = ""
        self.online: set[str] = set()
        self.oldest_seq: int | None = None  # the earliest message shown
        # seq -> the latest payload seen, for /react and for reaction changes.
        self.known: dict[int, dict[str, Any]] = {}

    def _note_oldest(self, messages: list[dict[str, Any]]) -> None:
        self._remember(messages)
        if messages and (self.oldest_seq is None or messages[0]["seq"] < self.oldest_seq):
            self.oldest_seq = messages[0]["seq"]

    def connected(self, ready: dict[str, Any], *, reconnect: bool, new: list[dict]) -> None:
        self.user = str(ready.get("user", ""))
        self.online = set(ready.get("online") or [])
        if not reconnect:
            room = ready.get("room") or {}
            title = render.clean(str(room.get("title") or self.slug))
            say(f"-- #{self.slug} ({title}) as {render.clean(self.user)}; {self.who()}")
            if ready.get("has_more"):
                say("-- earlier messages: /history N")
        elif ready.get("recovered") is False:
            say(
                "-- reconnected; more messages were missed than the server keeps, "
                f"here are the latest {len(new)}"
            )
        else:
            missed = f"{len(new)} missed message(s)" if new else "nothing missed"
            say(f"-- reconnected; {missed}")
        self._note_oldest(new)
        for message in new:
            say(self.line(message))
        if not reconnect:
            room = ready.get("room") or {}
            if room.get("locked") or room.get("slow_mode"):
                say("-- " + render.room_line(room))
        muted = ready.get("muted")
        if isinstance(muted, dict):  # said on every connect: a mute may begin while away
            say("-- " + render.mute_line(muted.get("until")))
        if not reconnect:
            say("-- type a message and press Enter; /help lists commands")

    def line(self, message: dict[str, Any]) -> str:
        return render.message_line(message, me=self.user, base=self.base)

    def _remember(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if isinstance(message.get("seq"), int):
                self.known[message["seq"]] = message
        if len(self.known) > MAX_KNOWN:
            for seq in sorted(self.known)[: len(self.known) - MAX_KNOWN]:
                del self.known[seq]

    def updated(self, frame: dict[str, Any]) -> None:
        """An ``update``: a line for what changed (the text, or only the reactions).

        A message this view never showed is announced whole.
        """
        payload = frame.get("message") or {}
        before = self.known.get(payload.get("seq"))
        self._remember([payload])
        if before is not None and _without_reactions(before) == _without_reactions(payload):
            if (payload.get("reactions") or []) != (before.get("reactions") or []):
                say(render.reactions_line(payload))
            return
        say(render.change_line(frame, base=self.base))

    def latest_seq(self) -> int | None:
        return max(self.known, default=None)

    def reacted(self, seq: int, emoji: str) -> bool:
        """Whether this user already has ``emoji`` on message ``seq``."""
        for reaction in self.known.get(seq, {}).get("reactions") or []:
            if reaction.get("emoji") == emoji:
                return self.user in (reaction.get("users") or [])
        return False

    def who(self) -> str:
        names = ", ".join(render.clean(name) for name in sorted(self.online))
        return f"online ({len(self.online)}): {names}"

    def message(self, payload: dict[str, Any]) -> None:
        self._note_oldest([payload])
        say(self.line(payload))

    def presence(self, frame: dict[str, Any]) -> None:
        """A ``presence`` frame (or an old server's ``join``/``leave``): who came and went.

        Only real changes are printed: one's own name echoed in ``joined`` is not news.
        """
        before = self.online
        self.online = set(apply_presence(list(before), frame))
        came = sorted(self.online - before)
        went = sorted(before - self.online)
        if came:
            say("-- " + render.presence_line(came, "joined"))
        if went:
            say("-- " + render.presence_line(went, "left"))

    def frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind in (ServerType.JOIN, ServerType.LEAVE, ServerType.PRESENCE):
            self.presence(frame)
        elif kind == ServerType.HISTORY:
            messages = frame.get("messages") or []
            say(f"-- {len(messages)} earlier message(s):")
            for message in messages:
                say(self.line(message))
            self._note_oldest(messages)
            if not frame.get("has_more"):
                say("-- that is the beginning of the room")
        elif kind == ServerType.DELETED:
            say(render.change_line(frame))
        elif kind == ServerType.ROOM:
            say("-- " + render.room_line(frame.get("room") or {}))
        elif kind == ServerType.UPDATE:
            self.updated(frame)
        elif kind == ServerType.ERROR:
            say(f"!! {frame.get('code')}: {render.clean(str(frame.get('detail', '')))}")
        elif kind == ServerType.REPORTED:
            say("-- reported to the moderators")
        elif kind == ServerType.MUTED:
            say("-- " + render.mute_line(frame.get("until")))
        elif kind == ServerType.UNMUTED:
            say("-- a moderator lifted your mute: you can write again")

    def status(self, text: str) -> None:
        say(f"-- {text}")

    def acked(self, item: Outgoing, ack: dict[str, Any]) -> None:
        pass  # the message itself comes back from the room and is shown then

    def failed(self, item: Outgoing, code: str, detail: str) -> None:
        preview = render.clean(item.body[:40]) + ("…" if len(item.body) > 40 else "")
        say(f"!! not sent ({code}): {render.clean(detail)}: {preview}")


async def handle_input(line: str, session: RoomSession, view: InteractiveView) -> bool:
    """Act on one input line; False when the user wants to leave."""
    text = line.rstrip("\r\n")
    command, _, argument = text.strip().partition(" ")
    if not text.strip():
        return True
    if text.startswith("//") or not text.startswith("/"):
        session.send(text[1:] if text.startswith("//") else text)
        if not session.connected:
            say("-- not connected: the message will be sent after reconnecting")
    elif command == "/quit":
        return False
    elif command == "/who":
        say(f"-- {view.who()}")
    elif command == "/help":
        say(HELP)
    elif command == "/history":
        await show_history(argument, session, view)
    elif command == "/react":
        await react(argument, session, view)
    else:
        say(f"-- unknown command {render.clean(command)}; /help lists commands")
    return True


async def show_history(argument: str, session: RoomSession, view: InteractiveView) -> None:
    argument = argument.strip()
    if argument and not (argument.isascii() and argument.isdigit() and int(argument) > 0):
        say("-- usage: /history N (a positive number)")
        return
    limit = int(argument) if argument else DEFAULT_HISTORY_PAGE
    before = view.oldest_seq if view.oldest_seq is not None else (session.last_seq or 0) + 1
    if before <= 1:
        say("-- no earlier messages")
        return
    if not await session.request_history(before, limit):
        say("-- not connected; try again in a moment")


async def react(argument: str, session: RoomSession, view: InteractiveView) -> None:
    """``/react [SEQ] EMOJI``: toggle this user's reaction on a message shown here."""
    parts = argument.split()
    if len(parts) == 1:
        seq, emoji = view.latest_seq(), parts[0]
    elif len(parts) == 2 and parts[0].isascii() and parts[0].isdigit():
        seq, emoji = int(parts[0]), parts[1]
    else:
        say("-- usage: /react [SEQ] EMOJI, e.g. /react 👍 (the latest message)")
        return
    message = view.known.get(seq) if seq is not None else None
    if message is None or message.get("deleted"):
        say(f"-- no message #{seq} here to react to" if seq else "-- no message to react to")
        return
    active = not view.reacted(seq, emoji)
    if not await session.react(message["id"], emoji, active=active):
        say("-- not connected; try again in a moment")


async def run_interactive(session: RoomSession, view: InteractiveView) -> int:
    """Run until /quit, Ctrl-D or Ctrl-C (status 0), or until the server refuses us (``Exit``)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.patch_stdout import patch_stdout

    # The sent line disappears from the prompt: the room echoes it back, with its time,
    # once it is stored (so what is on screen is what the room has).
    prompt: PromptSession[str] = PromptSession(erase_when_done=True)
    loop = asyncio.get_running_loop()

    async def read_lines() -> None:
        while True:
            try:
                line = await prompt.prompt_async(f"#{session.slug}> ")
            except (EOFError, KeyboardInterrupt):
                return
            if not await handle_input(line, session, view):
                return

    with patch_stdout():
        say(f"-- connecting to {session.site.base} …")
        runner = loop.create_task(session.run())
        reader = loop.create_task(read_lines())
        try:
            done, _ = await asyncio.wait({runner, reader}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                runner.result()  # raises Exit
            if session.pending:
                say(f"-- waiting for {session.pending} message(s) to be acknowledged")
                try:
                    await asyncio.wait_for(session.idle.wait(), QUIT_WAIT)
                except TimeoutError:
                    say(f"-- {session.pending} message(s) were not sent")
            await session.close()
            await asyncio.wait_for(runner, 5)
        finally:
            reader.cancel()
            runner.cancel()
    return 0


def _without_reactions(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != "reactions"}
