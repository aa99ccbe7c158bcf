"""``manage.py chat_files_cleanup``: delete uploads never sent, and list or delete
stored files no row knows (``--orphans``)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from chat import attachments


class Command(BaseCommand):
    help = "Delete uploads never sent with a message (older than --hours); --orphans lists stray files."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hours", type=int, default=24, help="age of unsent uploads to delete")
        parser.add_argument(
            "--orphans", action="store_true", help="list stored files that no attachment names"
        )
        parser.add_argument("--delete", action="store_true", help="with --orphans: delete them")

    def handle(self, *args, hours: int, orphans: bool, delete: bool, **options) -> None:
        cutoff = timezone.now() - timedelta(hours=max(0, hours))
        deleted = attachments.delete_unsent(older_than=cutoff)
        self.stdout.write(f"{deleted} unsent upload(s) older than {hours} h deleted")
        if orphans:
            names = attachments.orphans()
            for name in names:
                self.stdout.write(name)
            if delete:
                attachments.remove_stored(names)
            self.stdout.write(f"{len(names)} orphan file(s){' deleted' if delete else ''}")
