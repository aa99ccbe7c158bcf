"""``manage.py chat_token USERNAME [USERNAME ...] [--create] [--revoke]``.

Prints one new API token per user, one per line, in argument order, so scripts
can pair lines with names (``paste <(printf '%s\\n' "$@") <(manage.py chat_token "$@")``).
Only the hash of each token is stored; a lost token cannot be shown again.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from chat import services
from chat.models import ApiToken


class Command(BaseCommand):
    help = "Print a new API token for each user, one per line (--create makes missing users)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="+", metavar="USERNAME")
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--create",
            action="store_true",
            help="create missing users (no usable password: they sign in with the token)",
        )
        action.add_argument(
            "--revoke",
            action="store_true",
            help="revoke the users' tokens (their token connections close) instead",
        )

    def handle(self, *args, usernames: list[str], create: bool, revoke: bool, **options) -> None:
        names = list(dict.fromkeys(usernames))  # once each, in the order given
        users = self.users(names, create=create)
        if revoke:
            self.revoke(users)
            return
        with transaction.atomic():
            keys = services.issue_tokens(users=users)
        self.stdout.write("\n".join(keys))

    def users(self, names: list[str], *, create: bool) -> list:
        """The users named ``names``, in order; creates the missing ones with ``create``."""
        model = get_user_model()
        field = model.USERNAME_FIELD
        found = {getattr(u, field): u for u in model.objects.filter(**{f"{field}__in": names})}
        missing = [name for name in names if name not in found]
        if missing and not create:
            raise CommandError(
                f"no such user: {', '.join(missing)} (use --create to create missing users)"
            )
        if missing:
            found.update(self.create_users(model, missing))
        return [found[name] for name in names]

    def create_users(self, model, names: list[str]) -> dict:
        """Create users ``names`` in one query; a bot or load-test user needs no password."""
        validator = getattr(model, "username_validator", None)
        new = []
        for name in names:
            if validator is not None:
                try:
                    validator(name)
                except ValidationError as exc:
                    raise CommandError(
                        f"invalid username {name!r}: {' '.join(exc.messages)}"
                    ) from None
            user = model(**{model.USERNAME_FIELD: name})
            # No hashing involved: an unusable password is a random marker string.
            user.set_unusable_password()
            new.append(user)
        with transaction.atomic():
            model.objects.bulk_create(new)
        # Not every backend returns primary keys from bulk_create: read them back.
        field = model.USERNAME_FIELD
        created = model.objects.filter(**{f"{field}__in": names})
        self.stderr.write(f"created {len(names)} user(s)")
        return {getattr(user, field): user for user in created}

    def revoke(self, users: list) -> None:
        for user in users:
            count = services.revoke_tokens(tokens=ApiToken.objects.filter(user=user))
            self.stdout.write(f"{user.get_username()}: {count} token(s) revoked")
