"""CLI tests: the terminal client against real daphne processes, and token revocation."""

from tests.consumers.conftest import embedded, make_token, mode  # noqa: F401 - shared fixtures
