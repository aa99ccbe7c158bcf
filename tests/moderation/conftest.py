"""Moderation from both sides: a moderator in the admin or on the room page, and a
regular user trying to do the same through the admin, the page, the API or frames.

Live tests run the consumer in this process (channels' ``WebsocketCommunicator``,
embedded mode) and post the admin's forms with Django's test client from a worker
thread, as a browser's request would arrive.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from chat import services

ROOM = "/ws/rooms/lobby/"


@pytest.fixture
async def live(embedded):
    """Embedded mode for a WebSocket test; stops this loop's hub and publisher afterwards."""
    yield
    from chat.events.publisher import Publisher
    from chat.realtime.hub import Hub

    hub = Hub.existing()
    if hub is not None:
        await hub.stop()
    await Publisher.stop_current()


@pytest.fixture
def make_token() -> Callable[..., str]:
    return lambda user: services.issue_token(user=user)


@pytest.fixture
def signed_in(db) -> Callable[..., Client]:
    """Factory: a Django test client signed in as ``user`` (a browser with its cookie)."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def admin_client(signed_in, staff_user) -> Client:
    """The superuser ``admin``, signed in."""
    return signed_in(staff_user)


@pytest.fixture
def make_staff(make_user) -> Callable[..., object]:
    """Factory: ``make_staff(name, *codenames)``, staff with only those ``chat`` permissions."""

    def make(username: str, *codenames: str):
        staff = make_user(username, is_staff=True)
        if codenames:
            staff.user_permissions.set(
                Permission.objects.filter(content_type__app_label="chat", codename__in=codenames)
            )
        return staff

    return make


def changelist(model) -> str:
    return reverse(f"admin:chat_{model._meta.model_name}_changelist")


def change_url(obj) -> str:
    return reverse(f"admin:chat_{obj._meta.model_name}_change", args=[obj.pk])


def action_form(action: str, objects, **fields) -> dict:
    """The changelist form a browser posts when a moderator runs ``action`` on ``objects``."""
    return {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects], "index": 0, **fields}
