"""What an idle room connection keeps: the consumer's slots, a small scope, a token index."""

import pytest

from chat.realtime.hub import Hub
from tests.helpers.ws import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_joined_connection_keeps_only_the_path_of_its_scope(embedded, room, token):
    async with connect("/ws/rooms/lobby/", token=token) as client:
        coroutine = client.communicator.future.get_coro()
        consumer = coroutine.cr_frame.f_locals["self"]
        # The headers, the query, the route and the token went with the rest.
        assert consumer.scope == {"type": "websocket", "path": "/ws/rooms/lobby/"}
        assert "scope" not in coroutine.cr_frame.f_locals
        # Every attribute in a slot: the instance dict stays empty.
        assert vars(consumer) == {}
        assert consumer.batch_floor == 0 and consumer.user_id == consumer.user.pk
        assert consumer.info is None  # it was for ready

        await client.send("ping")
        await client.expect("pong")


async def test_a_refused_connection_still_logs_its_path(embedded, room, caplog):
    caplog.set_level("INFO", logger="chat.realtime.consumer")
    async with connect("/ws/rooms/nope/", token="bad", expect_ready=False) as client:
        await client.expect_close(4401)
    assert "path=/ws/rooms/nope/" in caplog.text


async def test_a_token_with_one_connection_is_indexed_without_a_set(embedded, room, token):
    async with connect("/ws/rooms/lobby/", token=token) as first:
        hub = Hub.current()
        (held,) = hub.by_token._by_id.values()
        assert not isinstance(held, set)
        async with connect("/ws/rooms/lobby/", token=token):
            (held,) = hub.by_token._by_id.values()
            assert isinstance(held, set) and len(held) == 2
        await first.send("ping")
        await first.expect("pong")
        (held,) = hub.by_token._by_id.values()
        assert not isinstance(held, set)
