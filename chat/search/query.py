"""The search box's language, parsed once and written out for each database.

    deploy friday          both words (AND)
    "release notes"        the words next to each other, in this order
    deploy OR rollback     either
    -staging               not this word (or -"a phrase")

Words are runs of letters and digits, compared without case; anything else in the
text separates words, so no input is a syntax error: a query is refused only when it
is empty, too long, has too many words, or has nothing to find (only exclusions).
The result is a ``Query`` of plain word tuples, which ``to_fts5`` and ``to_tsquery``
turn into each database's syntax with every word quoted or passed as a parameter:
user text never reaches a query parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUERY_LENGTH = 200
MAX_WORDS = 16

# One token of the search box: an optional "-", then a quoted phrase or a bare chunk.
_TOKEN = re.compile(r'(-?)(?:"([^"]*)"?|([^\s"]+))')
# A word: letters and digits (no "_": SQLite's tokenizer and PostgreSQL's parser both
# split on it).
_WORD = re.compile(r"[^\W_]+")


class QueryError(ValueError):
    """A search text that cannot be searched for; ``detail`` says why, for the user."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


Phrase = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """Every ``all_of`` group must match (one of its phrases), no ``none_of`` phrase may."""

    all_of: tuple[tuple[Phrase, ...], ...]
    none_of: tuple[Phrase, ...] = ()


def words(text: str) -> Phrase:
    """The words of ``text``, lower-cased."""
    return tuple(word.lower() for word in _WORD.findall(text))


def parse(text: str) -> Query:
    """The ``Query`` for a search box's text, or ``QueryError``."""
    text = text.strip()
    if not text:
        raise QueryError("type something to search for")
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the search is too long (at most {MAX_QUERY_LENGTH} characters)")
    groups: list[list[Phrase]] = []
    excluded: list[Phrase] = []
    join_next = False
    for match in _TOKEN.finditer(text):
        negated, quoted, bare = match.group(1), match.group(2), match.group(3)
        if bare == "OR" and not negated:
            join_next = bool(groups)
            continue
        phrase = words(quoted if quoted is not None else bare)
        if not phrase:
            continue
        if negated:
            excluded.append(phrase)
        elif join_next:
            groups[-1].append(phrase)
        else:
            groups.append([phrase])
        join_next = False
    count = sum(len(p) for group in groups for p in group) + sum(len(p) for p in excluded)
    if count > MAX_WORDS:
        raise QueryError(f"too many words (at most {MAX_WORDS})")
    if not groups:
        raise QueryError(
            "nothing to search for: use letters or digits, and at least one word without -"
        )
    return Query(tuple(tuple(group) for group in groups), tuple(excluded))


def _fts5_phrase(phrase: Phrase) -> str:
    # Words are letters and digits only, so they cannot contain a quote; doubling
    # quotes anyway keeps this safe if _WORD ever changes.
    return '"' + " ".join(word.replace('"', '""') for word in phrase) + '"'


def to_fts5(query: Query) -> str:
    """An FTS5 MATCH expression: every phrase a quoted string."""
    groups = []
    for group in query.all_of:
        alternatives = " OR ".join(_fts5_phrase(p) for p in group)
        groups.append(f"({alternatives})" if len(group) > 1 else alternatives)
    expression = " AND ".join(groups)
    for phrase in query.none_of:
        expression = f"({expression}) NOT {_fts5_phrase(phrase)}"
    return expression


def to_tsquery(query: Query, config: str = "simple") -> tuple[str, list[str]]:
    """A PostgreSQL tsquery expression as SQL with ``%s`` parameters (each a phrase).

    ``phraseto_tsquery`` takes any text and never raises; the operators between the
    phrases are written here, never parsed from user input.
    """
    params: list[str] = []

    def phrase_sql(phrase: Phrase) -> str:
        params.append(" ".join(phrase))
        return f"phraseto_tsquery('{config}', %s)"

    groups = []
    for group in query.all_of:
        alternatives = " || ".join(phrase_sql(p) for p in group)
        groups.append(f"({alternatives})")
    expression = " && ".join(groups)
    for phrase in query.none_of:
        expression = f"({expression}) && !!{phrase_sql(phrase)}"
    return expression, params


def terms(query: Query) -> set[str]:
    """Every word the query looks for (not the excluded ones)."""
    return {word for group in query.all_of for phrase in group for word in phrase}
