import logging

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def repair_search_index(sender, using: str = "default", **kwargs) -> None:
    """After ``migrate``: the SQLite search triggers survive table rebuilds."""
    from chat.search import sqlite

    sqlite.repair(connections[using])


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import (
            account_signals,  # noqa: F401 - connects the receivers
            checks,  # noqa: F401 - registers the system checks
        )
        from chat.views.ops import ExpectedProbeFailures

        logging.getLogger("django.request").addFilter(ExpectedProbeFailures())
        post_migrate.connect(repair_search_index, sender=self)
