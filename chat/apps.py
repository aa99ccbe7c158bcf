import logging

from django.apps import AppConfig


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
