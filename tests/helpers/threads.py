"""Real concurrency for database tests: work in threads whose transactions overlap."""

from __future__ import annotations

import threading


def in_threads(count: int, work) -> list[BaseException]:
    """Run ``work(n)`` for n < ``count``, each in its own thread and database connection.

    The threads pass a barrier first, so their transactions really overlap. Returns
    the exceptions the threads raised.
    """
    from django.db import connection

    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            work(n)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung (deadlock?)"
    return errors
