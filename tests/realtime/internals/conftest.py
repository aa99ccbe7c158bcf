import pytest

from chat.realtime.internals import startup


@pytest.fixture
def tuned():
    """Every optimisation checked afresh and installed, as ``chat.serve`` does."""
    startup.reset()
    assert startup.check_and_install() == []
    yield
    startup.reset()
