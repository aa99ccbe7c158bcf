"""Text the terminal client prints: message lines for people, JSON lines for programs.

Everything another user wrote passes through ``clean`` first: a message body is
data, and terminal control sequences in it must not move the cursor, retitle the
window or hide text.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

# C0 and C1 controls (tab and newline are handled by the caller), DEL, and the
# bidirectional overrides that can make text read differently than it is.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Characters JSON leaves raw that a terminal may still act on.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """``text`` safe to print: control characters shown as ``\\xNN``-style escapes."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return f"\\u{ord(char):04x}" if ord(char) > 0xFF else f"\\x{ord(char):02x}"

    return _UNSAFE.sub(escape, text.replace("\t", "    "))


def local_time(ts: str | None, today: datetime | None = None) -> str:
    """``HH:MM`` in local time for today's messages, ``YYYY-MM-DD HH:MM`` for older ones."""
    if not ts:
        return "     "
    try:
        moment = datetime.fromisoformat(ts).astimezone()
    except ValueError:
        return clean(ts)[:16]
    today = today or datetime.now().astimezone()
    if moment.date() == today.date():
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


QUOTE_WIDTH = 60  # of the original's text, on a reply's first line

# Marks a line that mentions the reader (by name, or ``@room``).
MENTION_MARK = "!"


def mentions_me(message: dict[str, Any], me: str) -> bool:
    """Whether ``message`` mentions ``me``: by name (``mentions``) or ``@room``."""
    if not me or message.get("deleted"):
        return False
    return bool(message.get("mentions_room")) or me in (message.get("mentions") or ())


def message_line(
    message: dict[str, Any], today: datetime | None = None, *, me: str = "", base: str = ""
) -> str:
    """``12:03 alice: hello``; continuation lines indented under the body.

    A message that mentions ``me`` is marked: ``12:03 ! alice: @me hello``. A reply
    starts with a line naming what it answers (``↪ bob: lunch?``), and an edited
    message ends with ``(edited)``. Its files follow, one link a line (made absolute
    against the site's ``base`` URL).
    """
    when = local_time(message.get("ts"), today)
    if message.get("deleted"):
        return f"{when} [a deleted message]"
    user = clean(str(message.get("user") or "?"))
    lines = [clean(line) for line in str(message.get("body", "")).split("\n")]
    if message.get("edited"):
        lines[-1] += " (edited)"
    mark = f"{MENTION_MARK} " if mentions_me(message, me) else ""
    head = f"{when} {mark}{user}: "
    indent = " " * len(head)
    summary = reactions_text(message)
    lines += file_lines(message, base)
    if lines[0] == "" and len(lines) > 1:
        lines.pop(0)  # files alone: the first link goes beside the name
    text = head + ("\n" + indent).join(lines) + (f"  [{summary}]" if summary else "")
    quote = message.get("reply_to")
    if isinstance(quote, dict):
        text = " " * len(when) + " " + reply_line(quote) + "\n" + text
    return text


def size_text(size: Any) -> str:
    """``812 B``, ``12.4 KB``, ``3.1 MB``."""
    if not isinstance(size, int) or isinstance(size, bool):
        return "?"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def file_lines(message: dict[str, Any], base: str = "") -> list[str]:
    """``[file] pic.png (12.4 KB) http://host/files/7/pic.png`` per file of ``message``."""
    lines = []
    for file in message.get("files") or []:
        if not isinstance(file, dict):
            continue
        url = str(file.get("url") or "")
        link = urljoin(base + "/", url) if base else url
        name = clean(str(file.get("name") or "file"))
        lines.append(f"[file] {name} ({size_text(file.get('size'))}) {clean(link)}")
    return lines


def reactions_text(message: dict[str, Any]) -> str:
    """A message's reactions as ``👍 2 🎉 1``, in the server's order ("" when none)."""
    return " ".join(
        f"{clean(str(reaction.get('emoji', '')))} {clean(str(reaction.get('count', '')))}"
        for reaction in message.get("reactions") or []
        if isinstance(reaction, dict)
    )


def reactions_line(message: dict[str, Any]) -> str:
    """``  reactions on #12 (alice: ship it): 👍 2 🎉 1`` when a message's reactions change."""
    user = clean(str(message.get("user") or "?"))
    body = clean(str(message.get("body") or "").replace("\n", " "))
    quote = body[:30] + ("…" if len(body) > 30 else "")
    summary = reactions_text(message) or "none"
    return f"  reactions on #{message.get('seq')} ({user}: {quote}): {summary}"


def reply_line(quote: dict[str, Any]) -> str:
    """The line above a reply: ``↪ bob: lunch?`` or ``↪ a deleted message``."""
    if quote.get("deleted"):
        return "↪ a deleted message"
    body = " ".join(str(quote.get("body", "")).split())
    if len(body) > QUOTE_WIDTH:
        body = body[:QUOTE_WIDTH] + "…"
    return f"↪ {clean(str(quote.get('user') or '?'))}: {clean(body)}"


def change_line(frame: dict[str, Any], today: datetime | None = None, *, base: str = "") -> str:
    """An ``update`` or ``deleted`` frame in words: what the message is now (its file
    links made absolute against ``base``, as in ``message_line``)."""
    if frame.get("type") == "deleted":
        return f"-- message #{frame.get('seq')} was deleted"
    message = frame.get("message") or {}
    return f"-- message #{message.get('seq')} is now: " + message_line(message, today, base=base)


def room_line(room: dict[str, Any]) -> str:
    """What changed about a room, in words."""
    parts = ["locked (only moderators can post)" if room.get("locked") else "open"]
    slow = room.get("slow_mode") or 0
    parts.append(f"slow mode {slow} s" if slow else "no slow mode")
    return f"room #{clean(str(room.get('slug', '')))} is now " + ", ".join(parts)


def mute_line(until: str | None) -> str:
    """A mute (``ready``'s ``muted``, or a ``muted`` frame) in words."""
    end = f"until {local_time(until).strip()}" if until else "until a moderator lifts it"
    return f"a moderator muted you in this room {end}; you can read"


def json_line(frame: dict[str, Any]) -> str:
    """One frame as a JSON line for pipes: UTF-8 text, control characters escaped."""
    text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# A crowd arriving at once is one line, not a screenful of names.
PRESENCE_NAMES_SHOWN = 5


def presence_line(names: list[str], verb: str) -> str:
    """``bob joined``, ``bob, carol joined``, ``a, b, c, d, e and 995 others joined``."""
    shown = [clean(name) for name in names[:PRESENCE_NAMES_SHOWN]]
    rest = len(names) - len(shown)
    who = ", ".join(shown) + (f" and {rest} others" if rest else "")
    return f"{who} {verb}"
