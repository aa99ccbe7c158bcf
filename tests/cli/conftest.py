"""CLI tests: the terminal client against real daphne processes, and token revocation.

Their fixtures (``mode``, ``embedded``, ``make_token``) live in the root conftest.
"""
