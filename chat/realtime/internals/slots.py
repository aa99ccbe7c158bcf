"""Moving a library class's per-instance attributes into slots, safely.

Two optimisations (``protocol.PROTOCOL_SLOTS``, ``transport.TRANSPORT_SLOTS``) give a
library class a subclass whose ``__slots__`` hold the names the library sets on every
instance. Both need the same two answers: which names may become slots (a slot would
hide a class attribute of the same name, a default read before the instance sets its
own), and whether any of the library's methods reads the instance ``__dict__`` (which
no longer holds those names). Both are read from the bytecode: no source files.
"""

from __future__ import annotations

from collections.abc import Iterable


def code_names(code) -> set[str]:
    """The global and attribute names ``code`` and the code nested in it use."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if hasattr(constant, "co_code"):
            names |= code_names(constant)
    return names


def slot_names(base: type, names: Iterable[str], keep_out: Iterable[str] = ()) -> tuple[str, ...]:
    """``names`` that no class of ``base`` defines, less ``keep_out``, in order."""
    excluded = set(keep_out)
    return tuple(
        name
        for name in names
        if name not in excluded and not any(name in vars(klass) for klass in base.__mro__)
    )


def dict_readers(classes: Iterable[type]) -> list[str]:
    """``Class.method`` of every method of ``classes`` that reads an instance's
    ``__dict__`` (or calls ``vars``); pickling's ``__getstate__``/``__setstate__`` aside."""
    return [
        f"{klass.__name__}.{name}"
        for klass in classes
        for name, value in vars(klass).items()
        if name not in ("__getstate__", "__setstate__")
        and hasattr(value, "__code__")
        and {"__dict__", "vars"} & code_names(value.__code__)
    ]
