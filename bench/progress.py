"""A one-line progress bar on stderr (no dependency), quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Redraws ``label [####----] text`` in place; prints a line every 5 s without a tty."""

    def __init__(self, label: str, width: int = 24, stream=None) -> None:
        self.label = label
        self.width = width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_line = 0.0

    def update(self, fraction: float, text: str = "") -> None:
        """Show ``fraction`` (0 to 1) done, with ``text`` after the bar."""
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        line = f"{self.label} [{'#' * filled}{'-' * (self.width - filled)}] {text}"
        if self.tty:
            self.stream.write(f"\r\x1b[2K{line}")
            self.stream.flush()
        elif time.monotonic() - self._last_line >= 5.0:
            self._last_line = time.monotonic()
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self, text: str = "") -> None:
        """End the bar's line, with a final ``text``."""
        if self.tty:
            self.stream.write(f"\r\x1b[2K{self.label} {text}\n")
        else:
            self.stream.write(f"{self.label} {text}\n")
        self.stream.flush()
