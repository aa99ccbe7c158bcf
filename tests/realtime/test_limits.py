"""The per-connection frame budget (chat.realtime.limits)."""

import pytest

from chat.realtime import limits
from chat.realtime.limits import FRAME_BURST, FRAME_RATE, ConnectionLimits
from chat.wire.errors import CloseCode, Refusal


def test_a_burst_then_the_refill_rate():
    now = [0.0]
    limits = ConnectionLimits(clock=lambda: now[0])
    assert all(limits.admit_frame() for _ in range(FRAME_BURST))
    assert not limits.admit_frame()
    assert 0 < limits.retry_after() <= 1 / FRAME_RATE

    now[0] += 1.0
    admitted = sum(limits.admit_frame() for _ in range(100))
    assert admitted == int(FRAME_RATE)


def test_warnings_at_most_once_per_second():
    now = [0.0]
    limits = ConnectionLimits(clock=lambda: now[0])
    assert limits.should_warn()
    assert not limits.should_warn()
    now[0] += 1.0
    assert limits.should_warn()


def test_claim_address_counts_a_client_address_up_to_its_cap(settings):
    settings.CHAT_MAX_CONNECTIONS_PER_IP = 2
    scope = {"client": ("203.0.113.9", 5000), "headers": []}
    claimed = [limits.claim_address(scope), limits.claim_address(scope)]
    try:
        assert claimed == ["203.0.113.9", "203.0.113.9"]
        with pytest.raises(Refusal) as refused:
            limits.claim_address(scope)
        assert refused.value.close_code == CloseCode.TOO_MANY_CONNECTIONS
        limits.ADDRESSES.close("203.0.113.9")
        claimed.pop()
        claimed.append(limits.claim_address(scope))  # a freed place can be taken again
    finally:
        for address in claimed:
            limits.ADDRESSES.close(address)
