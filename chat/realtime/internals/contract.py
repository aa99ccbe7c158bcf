"""The contract: every use of another library's private names, and whether it is on.

An ``Optimisation`` names the library, the private names it relies on and what it
buys. Its ``check`` raises when those names are missing or behave differently than
the version it was written against; then the optimisation is off for the process,
said once in one warning line. The same happens when an optimised path raises at
run time (``fail``): the caller falls back to the plain path.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from importlib import metadata

logger = logging.getLogger("chat.internals")


@dataclasses.dataclass(eq=False)
class Optimisation:
    """One use of private library internals, checked before use."""

    name: str  # e.g. "twisted.direct_send"
    library: str  # the distribution whose private names are used
    written_for: str  # the version the check was written against
    uses: str  # the private names, as they appear in the library
    buys: str  # what it saves
    without: str  # what happens when it is off
    check: Callable[[], None]  # raises when the names are missing or changed
    needs_launcher: bool = True  # only ``python -m chat.serve`` installs it
    state: bool | None = dataclasses.field(default=None, repr=False)  # None: not checked

    def ok(self) -> bool:
        """True when the optimisation may be used (checked once, on first use)."""
        if self.state is None:
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - any surprise means: do not use it
                self._off(f"{type(exc).__name__}: {exc}")
            else:
                self.state = True
        return self.state

    def fail(self, exc: BaseException) -> None:
        """An optimised path raised at run time: off from now on, said once."""
        if self.state is not False:
            self._off(f"failed at run time: {type(exc).__name__}: {exc}")

    def _off(self, why: str) -> None:
        self.state = False
        logger.warning(
            "optimisation off: %s (%s %s, written for %s): %s; serving without it",
            self.name,
            self.library,
            installed_version(self.library),
            self.written_for,
            why,
        )

    def reset(self) -> None:
        """Forget the check's result (tests)."""
        self.state = None


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution``, or ``?``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"


def require(condition: object, what: str) -> None:
    """Raise ``LookupError(what)`` unless ``condition`` holds (for checks)."""
    if not condition:
        raise LookupError(what)
