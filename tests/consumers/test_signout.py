"""Sockets end with the access that opened them: deactivation and a new password close
a user's sockets with 4401, in both modes; a new password also revokes the user's tokens.

A user set inactive kept posting on an open session socket (only token sockets were
rechecked). Sign-out of one session: tests/http/test_signout_live.py (real daphne).
"""

import pytest
from asgiref.sync import sync_to_async

from chat.wire.errors import CloseCode
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"


def deactivate(user) -> None:
    user.is_active = False
    user.save()


def new_password(user) -> None:
    user.set_password("a-brand-new-password-42")
    user.save()


@pytest.mark.parametrize("change", [deactivate, new_password], ids=["deactivated", "password"])
async def test_a_session_socket_closes_with_4401(mode, room, user, other_user, change):
    async with (
        connect(ROOM, user=user) as alice,
        connect(ROOM, user=other_user) as bob,
    ):
        await sync_to_async(change)(user)
        await alice.expect_close(CloseCode.NOT_AUTHENTICATED)
        # Others stay: bob still talks.
        await bob.send("message", body="still here", client_id="b1")
        await bob.expect("ack", client_id="b1")


async def test_a_new_password_revokes_the_users_tokens(mode, room, user, token):
    async with connect(ROOM, token=token) as alice:
        await sync_to_async(new_password)(user)
        await alice.expect_close(CloseCode.NOT_AUTHENTICATED)
    assert await user.chat_tokens.filter(revoked_at__isnull=True).acount() == 0


async def test_a_sign_in_does_not_close_anything(mode, room, user):
    from django.utils import timezone

    async with connect(ROOM, user=user) as alice:
        user.last_login = timezone.now()
        await sync_to_async(user.save)(update_fields=["last_login"])
        await alice.send("ping")
        await alice.expect("pong")
