"""Fixtures shared with the consumer tests (modes, tokens)."""

from tests.consumers.conftest import embedded, make_token, mode, token  # noqa: F401
