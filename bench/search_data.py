"""The search benchmark's data and queries, inside a Django process (``bench.search``).

``fill(n)`` writes ``n`` messages in bulk (``COPY`` on PostgreSQL, ``executemany`` on
SQLite, both through the indexes of migration ``0003_search``); ``measure`` times
``chat.search.search`` (the selector the API and the page call) on the ``QUERIES``.

The text is generated, deterministic (seed 16): 4-20 words per message from a Zipf
vocabulary whose head is real English ("the" is in about half of the messages),
plus planted words of known frequency: "deploy" (2 %), the phrase "release notes"
(0.2 %), "kubernetes" (40 messages). 1 % of messages are deleted.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SEED = 16
USERS = 200
ROOMS = 100
PRIVATE_ROOMS = 10  # search-r00 .. search-r09; the searcher belongs to r00 and r01
SEARCHER = "search-u000"
START = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=30)
RARE_COUNT = 40

_HEAD_WORDS = (
    "the to and a i you it is we that of in for on this be have with not just "
    "so but can at what do are will if me my all get about was like now there "
    "one up out know when from think time good today then see yes"
)
HEAD = _HEAD_WORDS.split(" ")


def vocabulary(size: int = 20_000) -> list[str]:
    """Real words first, then made-up ones (syllables, so they look like words)."""
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
    made_up = ("".join(p) for p in itertools.product(syllables, repeat=3))
    return HEAD + list(itertools.islice(made_up, size - len(HEAD)))


@dataclass(frozen=True)
class BenchQuery:
    label: str
    text: str
    filters: dict


QUERIES = [
    BenchQuery("common word (about half of all messages)", "the", {}),
    BenchQuery("frequent word (2 %)", "deploy", {}),
    BenchQuery("rare word (40 messages)", "kubernetes", {}),
    BenchQuery("no match", "zzzqqq", {}),
    BenchQuery("phrase (0.2 %)", '"release notes"', {}),
    BenchQuery("two words", "deploy today", {}),
    BenchQuery("OR, and an exclusion", "kubernetes OR rollback -the", {}),
    BenchQuery("common word, one author", "the", {"author": "search-u007"}),
    BenchQuery("frequent word, one room", "deploy", {"room": "search-r42"}),
    BenchQuery("rare word, one room", "kubernetes", {"room": "search-r42"}),
    BenchQuery(
        "common word, one week",
        "the",
        {"since": datetime(2025, 6, 1, tzinfo=UTC), "until": datetime(2025, 6, 8, tzinfo=UTC)},
    ),
    BenchQuery(
        "common word, the first two months",
        "the",
        {"since": datetime(2025, 1, 1, tzinfo=UTC), "until": datetime(2025, 3, 1, tzinfo=UTC)},
    ),
    BenchQuery(
        "rare word, everything before June",
        "kubernetes",
        {"until": datetime(2025, 6, 1, tzinfo=UTC)},
    ),
    BenchQuery("frequent word, second page", "deploy", {"page": 2}),
]


def _bodies(n: int, rng: random.Random) -> list[str]:
    vocab = vocabulary()
    weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(vocab))))
    lengths = [rng.randint(4, 20) for _ in range(n)]
    words = rng.choices(vocab, cum_weights=weights, k=sum(lengths))
    bodies, position = [], 0
    rare = set(rng.sample(range(n), RARE_COUNT))
    for i, length in enumerate(lengths):
        chunk = words[position : position + length]
        position += length
        roll = rng.random()
        if roll < 0.02:
            chunk.insert(rng.randrange(len(chunk)), "deploy")
        elif roll < 0.022:
            chunk[rng.randrange(len(chunk)) :] = ["release", "notes"]
        elif roll < 0.023:
            chunk.append("rollback")
        if i in rare:
            chunk.append("kubernetes")
        bodies.append(" ".join(chunk).capitalize())
    return bodies


def _rows(n: int) -> list[tuple]:
    """(room_id index, author index, body, seq, created_at, deleted) for ``n`` messages."""
    rng = random.Random(SEED)
    bodies = _bodies(n, rng)
    seqs = [0] * ROOMS
    rows = []
    for i, body in enumerate(bodies):
        room = rng.randrange(ROOMS)
        seqs[room] += 1
        deleted = rng.random() < 0.01
        rows.append((room, rng.randrange(USERS), body, seqs[room], START + STEP * i, deleted))
    return rows


def _people_and_rooms() -> tuple[list[int], list[int]]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from chat.models import Room

    model = get_user_model()
    unusable = make_password(None)
    names = [f"search-u{i:03d}" for i in range(USERS)]
    model.objects.bulk_create(
        [model(username=name, password=unusable) for name in names], ignore_conflicts=True
    )
    users = dict(model.objects.filter(username__in=names).values_list("username", "pk"))
    slugs = [f"search-r{i:02d}" for i in range(ROOMS)]
    Room.objects.bulk_create(
        [Room(slug=slug, title=slug, is_private=i < PRIVATE_ROOMS) for i, slug in enumerate(slugs)],
        ignore_conflicts=True,
    )
    rooms = dict(Room.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    searcher = users[SEARCHER]
    for slug in slugs[:2]:
        Room.objects.get(pk=rooms[slug]).members.add(searcher)
    return [users[name] for name in names], [rooms[slug] for slug in slugs]


def stored_messages() -> int:
    from chat.models import Message

    return Message.objects.filter(room__slug__startswith="search-r").count()


def fill(n: int, log=print) -> float:
    """Write ``n`` messages (plus their users and rooms); return the seconds it took."""
    from django.db import connection, transaction

    from chat.models import Room

    started = time.monotonic()
    user_ids, room_ids = _people_and_rooms()
    rows = _rows(n)
    log(f"generated {n:,} messages in {time.monotonic() - started:.1f} s")
    records = [
        (room_ids[room], user_ids[author], body, seq, at, at if deleted else None)
        for room, author, body, seq, at, deleted in rows
    ]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy_postgres(records)
        else:
            _insert_sqlite(records)
        last = {}
        for room, _, _, seq, at, _ in rows:
            last[room] = (seq, at)
        for room, (seq, at) in last.items():
            Room.objects.filter(pk=room_ids[room]).update(last_seq=seq, last_message_at=at)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.monotonic() - started


COLUMNS = "room_id, author_id, body, seq, created_at, deleted_at, mentions_room"


def _copy_postgres(records: list[tuple]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY
        with raw.copy(f"COPY chat_message ({COLUMNS}) FROM STDIN") as copy:
            for record in records:
                copy.write_row((*record, False))


def _insert_sqlite(records: list[tuple]) -> None:
    from django.db import connection

    adapt = connection.ops.adapt_datetimefield_value
    sql = f"INSERT INTO chat_message ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, 0)"  # noqa: S608 - constant
    with connection.cursor() as cursor:
        for start in range(0, len(records), 50_000):
            cursor.executemany(
                sql,
                [
                    (room, author, body, seq, adapt(at), adapt(deleted))
                    for room, author, body, seq, at, deleted in records[start : start + 50_000]
                ],
            )


def settle() -> None:
    """Statistics and visibility as a live database has them (autovacuum, ANALYZE)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE chat_message" if connection.vendor == "postgresql" else "ANALYZE"
        )


def measure(repeat: int) -> list[dict]:
    """Each query's times (ms) over ``repeat`` rounds after one warm-up round."""
    from django.contrib.auth import get_user_model

    from chat import search

    user = get_user_model().objects.get(username=SEARCHER)

    def filters_for(query: BenchQuery) -> search.Filters:
        options = dict(query.filters)
        page = options.pop("page", 1)
        filters = search.Filters(**options)
        for _ in range(page - 1):
            cursor = search.search(user=user, text=query.text, filters=filters).next_before
            filters = search.Filters(**options, before=cursor)
        return filters

    prepared = [(query, filters_for(query)) for query in QUERIES]
    times: dict[str, list[float]] = {query.label: [] for query in QUERIES}
    results: dict[str, int] = {}
    for round_ in range(repeat + 1):
        for query, filters in prepared:
            clock = time.perf_counter()
            page = search.search(user=user, text=query.text, filters=filters)
            took = (time.perf_counter() - clock) * 1000
            if round_:  # round 0 warms the caches
                times[query.label].append(took)
            results[query.label] = len(page.results)
    return [
        {
            "label": query.label,
            "text": query.text,
            "filters": {k: str(v) for k, v in query.filters.items()},
            "results": results[query.label],
            "ms": times[query.label],
        }
        for query in QUERIES
    ]
