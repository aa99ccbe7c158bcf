"""Snippets as ``[(text, highlighted), ...]``: data for DOM nodes, never HTML.

The databases mark matches with two control characters (``START``/``STOP``) that
``segments`` splits on. A body that itself contains one of them (or ``LESS_THAN``)
could be misread, so its snippet is cut here instead, from the body, marking the
query's words.
"""

from __future__ import annotations

import re

from chat.search.query import Query, terms

START, STOP = "\x02", "\x03"
# PostgreSQL's ts_headline drops what looks like an HTML tag: "<" goes in as this
# and comes back out (chat.search.postgres).
LESS_THAN = "\x01"
RESERVED = (START, STOP, LESS_THAN)
ELLIPSIS = "…"
# Without the database's snippet: this many characters of the body at most.
FALLBACK_CHARS = 160

Segments = list[tuple[str, bool]]


def split_marked(marked: str) -> Segments:
    """``"a \\x02b\\x03 c"`` → ``[("a ", False), ("b", True), (" c", False)]``."""
    result: Segments = []
    for part in re.split(f"({START}[^{STOP}]*{STOP})", marked):
        if not part:
            continue
        if part.startswith(START):
            result.append((part[1:-1], True))
        else:
            result.append((part.replace(START, "").replace(STOP, ""), False))
    return _merged(result)


def _merged(parts: Segments) -> Segments:
    merged: Segments = []
    for text, marked in parts:
        if merged and merged[-1][1] == marked:
            merged[-1] = (merged[-1][0] + text, marked)
        elif text:
            merged.append((text, marked))
    return merged


def from_body(body: str, query: Query) -> Segments:
    """A snippet cut from ``body`` itself, the query's words marked (the fallback)."""
    clean = body
    for char in RESERVED:
        clean = clean.replace(char, "")
    wanted = terms(query)
    found = [m for m in re.finditer(r"[^\W_]+", clean) if m.group().lower() in wanted]
    start = max(0, found[0].start() - FALLBACK_CHARS // 3) if found else 0
    text = clean[start : start + FALLBACK_CHARS]
    parts: Segments = [(ELLIPSIS, False)] if start else []
    position = 0
    for match in re.finditer(r"[^\W_]+", text):
        if match.group().lower() in wanted:
            parts += [(text[position : match.start()], False), (match.group(), True)]
            position = match.end()
    parts.append((text[position:], False))
    if start + FALLBACK_CHARS < len(clean):
        parts.append((ELLIPSIS, False))
    return _merged(parts)


def segments(marked: str | None, body: str, query: Query) -> Segments:
    """The snippet of one result: the database's, unless the body could confuse it."""
    if marked is None or any(char in body for char in RESERVED):
        return from_body(body, query)
    return split_marked(marked)
