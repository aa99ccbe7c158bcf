"""The start-up check: every optimisation's private names, checked before serving.

``chat.serve`` calls ``check_and_install`` before daphne starts: each optimisation
whose names are missing or changed is reported off in one warning line and left
out; the rest are installed.
"""

from __future__ import annotations

from chat.realtime.internals import (
    asgiref_marker,
    autobahn_log,
    channels_redis_layer,
    daphne_queue,
    deflate,
    fanout_write,
    protocol,
    transport,
)
from chat.realtime.internals.contract import Optimisation

CONTRACT: tuple[Optimisation, ...] = (
    autobahn_log.LAZY_PFORMAT,
    protocol.FACTORY_SETTINGS,
    protocol.LIGHT_SEND_QUEUE,
    protocol.RELEASE_HANDSHAKE,
    protocol.PROTOCOL_SLOTS,
    transport.TRANSPORT_SLOTS,
    protocol.CLOSE_FRAME,
    fanout_write.PREPARED_FRAMES,
    fanout_write.DIRECT_SEND,
    daphne_queue.LIGHT_INPUT_QUEUE,
    channels_redis_layer.QUIET_CLEANUP,
    asgiref_marker.SINGLE_CALLABLE,
    deflate.DROP_COMPRESSOR,
)


def check_and_install() -> list[str]:
    """Check every optimisation (one warning line each that is off); return those off."""
    off = [optimisation.name for optimisation in CONTRACT if not optimisation.ok()]
    autobahn_log.install()
    return off


def reset() -> None:
    """Check again on next use (tests)."""
    for optimisation in CONTRACT:
        optimisation.reset()
