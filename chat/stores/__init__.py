"""Shared state that is not the source of truth: the history cache, presence, rate limits.

Each store has an in-memory backend (embedded mode, one process) and a Redis backend
(``CHAT_REDIS_URL``), chosen in one place (``backends``). Stores import nothing of
the domain above them, and no other store's callers: a store that has news (a user
left when a process died) tells a listener the real-time layer attached.
"""
