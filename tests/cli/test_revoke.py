"""Revoking a token closes its open connections with 4401 within a second."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat import selectors, services
from chat.models import ApiToken
from chat.realtime import hub
from chat.wire.errors import CloseCode
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "/ws/rooms/lobby/"


async def test_revoking_closes_that_tokens_connections_with_4401(mode, room, user, make_token):
    keep, revoke = await sync_to_async(make_token)(user), await sync_to_async(make_token)(user)
    async with connect(ROOM, token=keep) as kept, connect(ROOM, token=revoke) as doomed:
        await sync_to_async(services.revoke_tokens)(
            tokens=ApiToken.objects.filter(prefix=revoke[:8])
        )

        await doomed.expect_close(CloseCode.NOT_AUTHENTICATED, timeout=1)
        assert any(f.get("type") == "error" and "revoked" in f["detail"] for f in doomed.seen)
        await kept.send("ping")
        await kept.expect("pong")


async def test_a_revocation_no_event_announced_still_closes_within_a_second(
    embedded, room, user, make_token
):
    # Another process revoked it (manage.py chat_token --revoke in embedded mode has
    # no channel layer in common with the server), or the layer lost the event.
    key = await sync_to_async(make_token)(user)
    async with connect(ROOM, token=key) as client:
        await ApiToken.objects.filter(user=user).aupdate(revoked_at=timezone.now())

        await client.expect_close(CloseCode.NOT_AUTHENTICATED, timeout=1.5)


async def test_a_token_deleted_behind_the_servers_back_closes_at_the_next_full_sweep(
    embedded, room, user, make_token, monkeypatch
):
    # Deleting (or back-dating a revocation) announces nothing and is not a recent
    # revocation: the full sweep (every TOKEN_SWEEP_INTERVAL) finds it.
    monkeypatch.setattr(hub, "TOKEN_SWEEP_INTERVAL", 1.0)
    key = await sync_to_async(make_token)(user)
    async with connect(ROOM, token=key) as client:
        await ApiToken.objects.filter(user=user).adelete()

        await client.expect_close(CloseCode.NOT_AUTHENTICATED, timeout=3)


async def test_the_quick_check_asks_only_for_tokens_that_ended_lately(user, make_token, settings):
    settings.CHAT_TOKEN_TTL = "3600"
    make = sync_to_async(make_token)
    old, recent, live, expired, expired_long_ago = [await make(user) for _ in range(5)]
    now = timezone.now()
    tokens = ApiToken.objects
    await tokens.filter(prefix=old[:8]).aupdate(revoked_at=now - timedelta(hours=1))
    await tokens.filter(prefix=recent[:8]).aupdate(revoked_at=now)
    await tokens.filter(prefix=expired[:8]).aupdate(created_at=now - timedelta(seconds=3610))
    await tokens.filter(prefix=expired_long_ago[:8]).aupdate(created_at=now - timedelta(hours=3))

    found = await sync_to_async(selectors.tokens_ended_since)(now - timedelta(seconds=60), now)

    ids = {t.prefix: t.pk async for t in ApiToken.objects.all()}
    assert found == {ids[recent[:8]], ids[expired[:8]]}
    assert ids[live[:8]] not in found
