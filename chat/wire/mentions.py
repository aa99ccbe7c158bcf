"""The ``@name`` grammar: which words of a message body are mentions.

Pure Python, shared by the server (which stores the mentions) and documented for
clients in docs/protocol.md; the page's ``format.js`` follows the same rules to
highlight them. It only finds candidates: whether a name is a user who can read the
room is the server's question (``chat.mentions``).

The grammar:

- ``@`` starts a mention at the start of the text or after a character that cannot
  be part of a name or an address (so ``bob@example.com`` and
  ``https://host/@bob`` mention nobody).
- The name is the longest run of letters, digits and ``_ . @ + -`` (the characters
  Django allows in usernames) after it, starting with a letter, digit or ``_``; so
  e-mail addresses work as names: ``@alice@example.com``. Punctuation that ends a
  sentence is not part of the name: when the run ends in ``. @ + -``, the run without
  them is tried as well, the longer one first (``@bob.`` names ``bob.`` if there is
  such a user, else ``bob``). Names compare exactly, as stored.
- ``@room`` (any case) mentions every reader of the room; the server honours it
  for the room's moderators only and it is plain text otherwise. A user called
  ``room`` cannot be mentioned by name.
- Nothing inside code (`` `inline` `` spans and fenced blocks) is a mention.
- At most ``MAX_MENTIONS`` distinct names per message count; the rest are text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ROOM = "room"
MAX_MENTIONS = 50
# Django's username field allows 150 characters, an e-mail address 254.
MAX_NAME_LENGTH = 254

_NAME_CHARS = r"\w.@+\-"
_MENTION = re.compile(rf"(?<![{_NAME_CHARS}/])@(\w[{_NAME_CHARS}]*)")
_TRAILING = re.compile(r"[.@+\-]+$")
# A fence line opens or closes a block; everything between is code.
_FENCE = re.compile(r"^ {0,3}```.*$", re.MULTILINE)
# An inline code span: backticks around text on one line (as the page renders it).
_CODE_SPAN = re.compile(r"`[^`\n]+`")


@dataclass(frozen=True, slots=True)
class Found:
    """The mention candidates of one body, in order of first appearance.

    ``names``: for each distinct token, the names to try, longest first.
    ``room``: whether ``@room`` appears.
    """

    names: tuple[tuple[str, ...], ...] = ()
    room: bool = False

    def candidates(self) -> set[str]:
        """Every name worth looking up."""
        return {name for options in self.names for name in options}


def _without_code(body: str) -> str:
    """``body`` with its code blanked out (same length, so nothing else moves)."""
    parts = []
    last = 0
    fences = list(_FENCE.finditer(body))
    # Fences pair up: 1st opens, 2nd closes, ... An unclosed last fence is text.
    for opening, closing in zip(fences[::2], fences[1::2], strict=False):
        parts.append(body[last : opening.start()])
        parts.append(" " * (closing.end() - opening.start()))
        last = closing.end()
    parts.append(body[last:])
    text = "".join(parts)
    return _CODE_SPAN.sub(lambda match: " " * len(match.group()), text)


def find(body: str) -> Found:
    """The mentions ``body`` may contain (cheap and empty when there is no ``@``)."""
    if "@" not in body:
        return Found()
    names: list[tuple[str, ...]] = []
    seen: set[str] = set()
    room = False
    for match in _MENTION.finditer(_without_code(body)):
        token = match.group(1)
        stripped = _TRAILING.sub("", token)
        if stripped.lower() == ROOM:
            room = True
            continue
        options = tuple(
            name for name in dict.fromkeys((token, stripped)) if 0 < len(name) <= MAX_NAME_LENGTH
        )
        if not options or options[0] in seen:
            continue
        if len(names) == MAX_MENTIONS:
            continue
        seen.add(options[0])
        names.append(options)
    return Found(names=tuple(names), room=room)


def resolve(found: Found, known: Iterable[str]) -> list[str]:
    """The names ``found`` mentions among ``known`` names, in order, each once."""
    known = set(known)
    chosen: dict[str, None] = {}
    for options in found.names:
        for name in options:
            if name in known:
                chosen[name] = None
                break
    return list(chosen)
