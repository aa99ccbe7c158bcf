"""The frames one flush of a room's batch window gives each connection.

A window holds presence changes (a user joined or left) and typing frames, in order.
Protocol 1 connections get them as they came, one frame each (a ``join`` per
arrival: a crowd of N costs each member N frames). Protocol 2 connections get the
window's presence changes as one ``presence`` frame, the same for every member, then
its typing frames. Frames are built once per window and shared; a list of its own
is built only for a protocol 1 connection that joined during the window (it must not
get what its ``ready`` covered) or whose own frames are in it, and for a typist.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.realtime.socket import Frame
from chat.wire import protocol
from chat.wire.versions import BATCHED_PRESENCE


@dataclass(frozen=True, slots=True)
class Batched:
    """One queued frame of a room's window."""

    frame: Frame  # the protocol 1 frame
    skip_user: int | None  # not for this user's connections (their own join, their typing)
    index: int  # its place in the room's sequence of batched frames
    change: tuple[str, str] | None = None  # (join|leave, username) when it is presence


class WindowFrames:
    """The frames of one window per connection, each distinct list built once."""

    def __init__(self, batched: list[Batched]) -> None:
        self.batched = batched
        self.first = batched[0].index
        self.skipped = {b.skip_user for b in batched if b.skip_user is not None}
        self.typing = [b for b in batched if b.change is None]
        self.typing_skipped = {b.skip_user for b in self.typing if b.skip_user is not None}
        self._v1_all = [b.frame for b in batched]
        self._v2_all: list[Frame] | None = None
        changes = [b.change for b in batched if b.change is not None]
        # Each user's last change is absolute (online or not), so one frame fits every
        # member, whatever it saw before: also the one whose ready was read mid-window,
        # and the arriving user itself (its own name in ``joined`` says what it knows).
        self._presence = (
            [Frame(protocol.presence_frame(*protocol.presence_changes(changes)))] if changes else []
        )

    def for_connection(self, *, user_id: int, floor: int, version: int) -> list[Frame]:
        """What a connection of ``user_id`` that joined at batch index ``floor`` gets."""
        if version >= BATCHED_PRESENCE:
            if not self.typing:
                return self._presence
            if user_id in self.typing_skipped or floor > self.typing[0].index:
                return self._presence + self._typing(user_id, floor)
            if self._v2_all is None:
                self._v2_all = self._presence + [b.frame for b in self.typing]
            return self._v2_all
        if user_id in self.skipped or floor > self.first:
            # Not its own frames, nor those queued before it joined (ready covered them).
            return [b.frame for b in self.batched if b.skip_user != user_id and b.index >= floor]
        return self._v1_all

    def _typing(self, user_id: int, floor: int) -> list[Frame]:
        return [b.frame for b in self.typing if b.skip_user != user_id and b.index >= floor]
