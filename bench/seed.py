"""Create the bench's users, API tokens and rooms in the product's database, in bulk.

Runs as a child process with the product's environment (``DATABASE_URL``)::

    python -m bench.seed --users 1000 --rooms big-1,big-2 --tokens-out tokens.txt

Users are ``bench-u00000``, ``bench-u00001``, ...; one token per user, written one
per line in user order (the same output as ``manage.py chat_token``). Tokens go
through ``chat.services.issue_tokens`` (the code path every token takes), a
thousand per query, so 100,000 users take seconds.
"""

from __future__ import annotations

import argparse
import os


def seed(users: int, rooms: list[str]) -> list[str]:
    """Make ``users`` users with one new token each and the public ``rooms``; return the tokens."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from chat import services
    from chat.models import Room

    model = get_user_model()
    names = [f"bench-u{i:05d}" for i in range(users)]
    unusable = make_password(None)
    with transaction.atomic():
        # By prefix, not ``username__in``: 100,000 names exceed SQLite's bound parameters.
        ours = model.objects.filter(username__startswith="bench-u")
        existing = set(ours.values_list("username", flat=True))
        model.objects.bulk_create(
            [model(username=name, password=unusable) for name in names if name not in existing],
            batch_size=1000,
        )
        by_name = {user.username: user for user in ours.only("id", "username")}
        users_in_order = [by_name[name] for name in names]
        tokens = []
        for start in range(0, len(users_in_order), 1000):  # one INSERT per thousand tokens
            tokens += services.issue_tokens(users=users_in_order[start : start + 1000])
        for slug in rooms:
            Room.objects.get_or_create(slug=slug, defaults={"title": slug})
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--rooms", default="", help="comma-separated slugs")
    parser.add_argument("--tokens-out", required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    tokens = seed(args.users, [slug for slug in args.rooms.split(",") if slug])
    with open(args.tokens_out, "w") as out:
        out.write("\n".join(tokens) + "\n")


if __name__ == "__main__":
    main()
