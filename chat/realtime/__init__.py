"""The real-time engine: the room consumer, this process's hub that fans events out to
its connections, socket writing, the group-commit writer, and graceful shutdown.

Everything that touches a private name of daphne, autobahn, Twisted or channels-redis
lives in ``internals`` and is checked at start-up.
"""
