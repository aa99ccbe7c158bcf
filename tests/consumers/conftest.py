"""Consumer tests: channels' WebsocketCommunicator through the full ASGI stack.

Most tests run twice, on the in-memory channel layer (embedded mode) and on real
Redis (``REDIS_URL``): the ``mode``, ``embedded`` and ``redis_mode`` fixtures, and
``token``/``other_token``, live in the root ``tests/conftest.py`` (the CLI and
moderation tests use them too).
"""
