"""``chat.tuning.apply()``: the public tuning call for hosts that start daphne themselves."""

from __future__ import annotations

from autobahn.websocket import protocol as autobahn_protocol

import chat.tuning
from chat.realtime.internals import autobahn_log


def test_apply_installs_the_lazy_debug_log_once_and_reports_nothing_off():
    chat.tuning.apply.cache_clear()

    off = chat.tuning.apply()
    again = chat.tuning.apply()

    assert off == [] and again is off  # the installed versions match the contract
    assert autobahn_protocol.pformat is autobahn_log._Pretty
