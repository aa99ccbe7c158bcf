"""The start-up check: a changed library turns one optimisation off, never the chat.

The children here are real daphne processes: one started through ``chat.serve``
by a tiny wrapper that changes private names of autobahn and daphne first (as an
upgrade of those libraries might), one started as plain ``daphne`` without the
launcher. Both must serve the chat end to end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import pytest
from websockets.asyncio.client import connect

from chat import services
from chat.realtime.internals import startup
from chat.realtime.internals.contract import Optimisation
from tests.helpers.processes import DaphneServer

# Stands in for a library upgrade: autobahn renames PreparedMessage.payloadHybi, and
# daphne changes Server.create_application (which the chat runs a copy of).
CHANGED_LIBRARIES = """
import sys
import daphne.server
from autobahn.websocket import protocol

prepare = protocol.PreparedMessage.__init__

def renamed(self, *args, **kwargs):
    prepare(self, *args, **kwargs)
    self.payload_hybi = self.__dict__.pop("payloadHybi")

protocol.PreparedMessage.__init__ = renamed
create = daphne.server.Server.create_application

def changed_create_application(self, protocol, scope):
    return create(self, protocol, scope)

daphne.server.Server.create_application = changed_create_application

from chat.serve import main
sys.exit(main())
"""


class ChangedLibrariesServer(DaphneServer):
    """``chat.serve`` after the wrapper above changed autobahn and daphne."""

    def argv(self) -> list[str]:
        return [sys.executable, "-c", CHANGED_LIBRARIES, *super().argv()[3:]]


class PlainDaphne(DaphneServer):
    """daphne itself, without the chat's launcher."""

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            self.host,
            "-p",
            str(self.port),
            "--access-log",
            "/dev/null",
            "chatsite.asgi:application",
        ]


async def _frame(ws, kind: str) -> dict:
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


async def _chat_works(server: DaphneServer, slug: str, alice: str, bob: str) -> None:
    url = server.ws_url(f"/ws/rooms/{slug}/")
    async with (
        connect(url, additional_headers={"Authorization": f"Bearer {alice}"}) as a,
        connect(url, additional_headers={"Authorization": f"Bearer {bob}"}) as b,
    ):
        await _frame(a, "ready")
        await _frame(b, "ready")
        await a.send(json.dumps({"type": "message", "body": "still here", "client_id": "c1"}))
        assert (await _frame(a, "ack"))["client_id"] == "c1"
        assert (await _frame(b, "message"))["body"] == "still here"


def test_every_optimisation_passes_its_check_on_the_pinned_libraries():
    startup.reset()
    try:
        assert startup.check_and_install() == []
    finally:
        startup.reset()


def test_a_failing_check_turns_its_optimisation_off_with_one_warning_line(caplog):
    def renamed() -> None:
        raise AttributeError("'Thing' object has no attribute '_gone'")

    optimisation = Optimisation(
        name="lib.trick",
        library="Twisted",
        written_for="1.0",
        uses="Thing._gone",
        buys="speed",
        without="plain speed",
        check=renamed,
    )
    with caplog.at_level(logging.WARNING, logger="chat.internals"):
        assert not optimisation.ok()
        assert not optimisation.ok()  # checked once, said once
        optimisation.fail(RuntimeError("again"))  # already off: not said again

    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1
    assert "optimisation off: lib.trick (Twisted" in lines[0]
    assert "_gone" in lines[0] and "\n" not in lines[0]


def test_a_run_time_failure_turns_an_optimisation_off_once(caplog):
    optimisation = Optimisation("lib.trick", "Twisted", "1.0", "x", "y", "z", check=lambda: None)
    with caplog.at_level(logging.WARNING, logger="chat.internals"):
        assert optimisation.ok()
        optimisation.fail(AttributeError("_tempDataBuffer"))
        optimisation.fail(AttributeError("_tempDataBuffer"))
    assert not optimisation.ok()
    assert len(caplog.records) == 1


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_changed_library_internals_are_reported_off_and_the_chat_still_works(
    live_env, user, other_user, make_room
):
    room = make_room("seam")
    alice, bob = services.issue_token(user=user), services.issue_token(user=other_user)
    with ChangedLibrariesServer(live_env) as server:
        asyncio.run(_chat_works(server, room.slug, alice, bob))
        stderr = server.stderr_tail(400)
    off = [line for line in stderr.splitlines() if "optimisation off:" in line]
    assert len(off) == 2, off
    assert any("autobahn.prepared_frames (autobahn" in line for line in off), off
    assert any("daphne.light_input_queue (daphne" in line for line in off), off
    assert "Traceback" not in stderr, stderr


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_plain_daphne_without_the_launcher_serves_the_chat(live_env, user, other_user, make_room):
    room = make_room("plain")
    alice, bob = services.issue_token(user=user), services.issue_token(user=other_user)
    with PlainDaphne(live_env) as server:
        asyncio.run(_chat_works(server, room.slug, alice, bob))
        stderr = server.stderr_tail(400)
    assert "Traceback" not in stderr, stderr


def test_every_optimisation_is_in_the_documented_contract():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "architecture.md").read_text()
    section = doc.split("## The seam to library internals", 1)[1]
    for optimisation in startup.CONTRACT:
        assert f"`{optimisation.name}`" in section, optimisation.name
