"""The per-connection frame budget (chat.realtime.limits)."""

from chat.realtime.limits import FRAME_BURST, FRAME_RATE, ConnectionLimits


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
