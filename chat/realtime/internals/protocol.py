"""daphne's WebSocket protocol, subclassed: the chat's hooks on each connection.

Installed through daphne's public extension point, ``ws_factory.protocol`` (see
``chat.serve.ChatServer``), and handed to the application in the scope under
``SCOPE_KEY``, so the consumer finds it whatever middleware wraps ``send``.

Public hooks (no contract needed):

* back-pressure: the protocol is its transport's streaming producer (Twisted's
  ``IPushProducer``); Twisted pauses it when more than its buffer size (64 KB)
  waits for the client and resumes it once everything is sent. ``backlog`` counts
  the bytes the chat handed over while paused: the slow-client check.
* the HTTP request a connection was upgraded from is let go (3.5 KB).
* the open WebSockets are counted for graceful shutdown.

Private ones, each an ``Optimisation``: settings read from the factory, a light
send queue, close frames with 1001 and 1011, the handshake's leftovers let go once
the connection is open.
"""

from __future__ import annotations

import dis
import inspect
import re
from collections import deque

from daphne.ws_protocol import WebSocketProtocol

from chat.realtime.internals import slots
from chat.realtime.internals.contract import Optimisation, require

SCOPE_KEY = "chat_ws_protocol"


def from_scope(scope) -> ChatWebSocketProtocol | None:
    """The connection's protocol when ``chat.serve`` runs it, else None (plain daphne, tests)."""
    protocol = scope.get(SCOPE_KEY)
    return protocol if isinstance(protocol, ChatWebSocketProtocol) else None


# --- settings read from the factory --------------------------------------------------


class _FactorySetting:
    """A protocol setting read from the protocol's factory, unless the instance has its own.

    A non-data descriptor: an instance attribute of the same name still wins, as it
    did when autobahn copied the value onto the instance.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, protocol, owner=None):
        if protocol is None:
            return self
        return getattr(protocol.factory, self.name)


def _connection_made_source() -> str:
    from autobahn.websocket.protocol import WebSocketProtocol as Autobahn

    return inspect.getsource(Autobahn._connectionMade)


def _check_factory_settings() -> None:
    source = _connection_made_source()
    require(
        "if not hasattr(self, configAttr):" in source
        and "setattr(self, configAttr, getattr(self.factory, configAttr))" in source,
        "WebSocketProtocol._connectionMade no longer copies CONFIG_ATTRS only when missing",
    )
    names = WebSocketProtocol.CONFIG_ATTRS
    require(all(isinstance(name, str) for name in names), "CONFIG_ATTRS is not names")


FACTORY_SETTINGS = Optimisation(
    name="autobahn.factory_settings",
    library="autobahn",
    written_for="26.11.1",
    uses="WebSocketProtocol.CONFIG_ATTRS, _connectionMade copying them when hasattr fails",
    buys="~1.6 KB per connection: 29 settings stay on the factory instead of every "
    "protocol's __dict__",
    without="autobahn copies the settings onto each connection",
    check=_check_factory_settings,
)


# --- the send queue ---------------------------------------------------------------


class SendQueue(list):
    """autobahn's per-connection ``send_queue`` as a list: 56 bytes where a deque takes 760.

    autobahn only appends to it, pops from the left, takes its ``len`` (and the
    chat's socket tests it for emptiness); it is nearly always empty, holding
    frames only while autobahn paces a chopped or synchronous send.
    """

    __slots__ = ()

    def popleft(self):
        """Remove and return the oldest entry."""
        return self.pop(0)


def _check_send_queue() -> None:
    from autobahn.websocket import protocol

    require("self.send_queue = deque()" in _connection_made_source(), "send_queue is not a deque")
    uses = re.findall(r"self\.send_queue(\.\w+|\s*=\s*\w+\(|\)|\s*:)", inspect.getsource(protocol))
    require(
        set(uses) <= {".append", ".popleft", ")", " = deque("},
        f"autobahn uses more of send_queue: {set(uses)}",
    )


LIGHT_SEND_QUEUE = Optimisation(
    name="autobahn.light_send_queue",
    library="autobahn",
    written_for="26.11.1",
    uses="WebSocketProtocol.send_queue (a deque made in _connectionMade)",
    buys="~700 bytes per connection",
    without="each connection keeps autobahn's deque",
    check=_check_send_queue,
)


# --- close codes 1001 and 1011 ------------------------------------------------------


def _check_close_frame() -> None:
    from autobahn.websocket.protocol import WebSocketProtocol as Autobahn

    parameters = inspect.signature(Autobahn.sendCloseFrame).parameters
    require({"code", "isReply"} <= set(parameters), "sendCloseFrame(code, isReply) changed")


CLOSE_FRAME = Optimisation(
    name="autobahn.close_frame",
    library="autobahn",
    written_for="26.11.1",
    uses="WebSocketProtocol.sendCloseFrame (sendClose allows only 1000 and 3000-4999)",
    buys="close codes 1001 (going away) and 1011 (server error), as RFC 6455 allows "
    "and the contract promises",
    without="those closes use 1000 (the error frame before them still says why)",
    check=_check_close_frame,
)


def allowed_by_send_close(code: int) -> bool:
    """True when autobahn's public ``sendClose`` accepts ``code``."""
    return code == 1000 or 3000 <= code <= 4999


# --- the handshake's leftovers ------------------------------------------------------

# What autobahn's server handshake parses and daphne copies from it, kept on every
# protocol for the connection's life although nothing reads it once the connection is
# open: the request's raw bytes, its headers (as autobahn's dict and daphne's list),
# the response, the status line, the URI parts, origin, offered subprotocols and
# extensions, the key. ~2 KB of a connection (the ASGI scope shares daphne's list;
# the consumer lets go of its scope too, see ``RoomConsumer.join``).
HANDSHAKE_ATTRIBUTES = (
    "http_headers",
    "http_request_data",
    "http_response_data",
    "http_status_line",
    "http_request_uri",
    "http_request_path",
    "http_request_params",
    "http_request_host",
    "websocket_origin",
    "websocket_protocols",
    "websocket_extensions",
    "_wskey",
    "clean_headers",
    "_raw_query_string",
)
# The methods that may read them: the handshake, in autobahn and daphne.
HANDSHAKE_METHODS = frozenset({"processHandshake", "succeedHandshake", "onConnect"})


class OpenRequest:
    """What daphne still reads of autobahn's ``ConnectionRequest`` after the handshake."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def handshake_readers(cls: type) -> dict[str, set[str]]:
    """``{method: names}`` of the methods of ``cls``'s library ancestors using handshake state.

    Read from the bytecode (no source files, no syntax trees: the check runs in every
    server process). ``request`` counts unless only its ``path`` is read.
    """
    watched = set(HANDSHAKE_ATTRIBUTES) | {"request"}
    readers: dict[str, set[str]] = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("chat.") or klass is object:
            continue
        for value in vars(klass).values():
            function = getattr(value, "fget", value)  # properties too
            code = getattr(function, "__code__", None)
            if code is None:
                continue
            used = _attributes_used(code, watched)
            if used:
                readers.setdefault(code.co_name, set()).update(used)
    return readers


def _attributes_used(code, watched: set[str]) -> set[str]:
    """The ``watched`` attribute names ``code`` (and the code nested in it) uses."""
    used = set()
    instructions = list(dis.get_instructions(code))
    for index, instruction in enumerate(instructions):
        if instruction.opname not in ("LOAD_ATTR", "STORE_ATTR", "DELETE_ATTR", "LOAD_METHOD"):
            continue
        if instruction.argval not in watched:
            continue
        following = instructions[index + 1] if index + 1 < len(instructions) else None
        if (
            instruction.argval == "request"
            and following is not None
            and following.opname == "LOAD_ATTR"
            and following.argval == "path"
        ):
            continue
        used.add(instruction.argval)
    for constant in code.co_consts:
        if hasattr(constant, "co_code"):
            used |= _attributes_used(constant, watched)
    return used


def _check_release_handshake() -> None:
    from autobahn.websocket.protocol import WebSocketServerProtocol

    readers = handshake_readers(WebSocketProtocol)
    late = {name: used for name, used in readers.items() if name not in HANDSHAKE_METHODS}
    require(not late, f"read after the handshake: {late}")
    kept = _attributes_used(
        WebSocketServerProtocol.processHandshake.__code__, set(HANDSHAKE_ATTRIBUTES)
    ) | _attributes_used(
        WebSocketServerProtocol.succeedHandshake.__code__, set(HANDSHAKE_ATTRIBUTES)
    )
    autobahn_names = set(HANDSHAKE_ATTRIBUTES[:-2])  # the last two are daphne's
    require(kept == autobahn_names, f"autobahn's handshake keeps other attributes: {kept}")


RELEASE_HANDSHAKE = Optimisation(
    name="autobahn.release_handshake",
    library="autobahn",
    written_for="26.11.1",
    uses="the handshake state autobahn's processHandshake and daphne's onConnect keep on "
    "the protocol (http_headers, http_request_data, ..., daphne's clean_headers and request)",
    buys="~2 KB per connection: the request's headers and bytes let go once open",
    without="each connection keeps its handshake for its whole life",
    check=_check_release_handshake,
)


_open: set[ChatWebSocketProtocol] = set()


def open_websockets() -> int:
    """WebSockets of this process whose TCP connection is still open."""
    return len(_open)


def wait_for_close_replies() -> None:
    """From now on, a close frame this process sends waits for the client's reply.

    autobahn aborts a connection (a TCP reset) whose client has not answered the
    server's close frame within ``closeHandshakeTimeout``, 1 s by default. Under
    load a client can take longer to read; once reset, a client that writes before
    it reads (asyncio's transports do) loses the 1001 it had received and sees
    1006. The graceful shutdown bounds the handshake itself (``CLOSE_HANDSHAKE_WAIT``),
    then the reactor closes what is left in order, so autobahn's timer is turned
    off (0) through its public ``setProtocolOptions``; a connection that copied the
    setting (``FACTORY_SETTINGS`` off) gets it too.
    """
    for factory in {protocol.factory for protocol in _open}:
        factory.setProtocolOptions(closeHandshakeTimeout=0)
    for protocol in _open:
        if "closeHandshakeTimeout" in vars(protocol):
            protocol.closeHandshakeTimeout = 0


class ChatWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol with the chat's per-connection hooks."""

    # Class defaults: an instance gets entries of its own only once it falls behind.
    paused = False  # Twisted said: more than its buffer size waits for the client
    backlog = 0  # bytes the chat handed over since then

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's name
        super().connectionMade()
        _open.add(self)

    def connectionLost(self, reason) -> None:  # noqa: N802 - Twisted's name
        _open.discard(self)
        super().connectionLost(reason)

    def _connectionMade(self) -> None:
        super()._connectionMade()
        if type(self.send_queue) is deque and not self.send_queue and LIGHT_SEND_QUEUE.ok():
            self.send_queue = SendQueue()

    def onConnect(self, request):  # noqa: N802 - autobahn's name
        accepted = super().onConnect(request)
        self._become_producer()
        return accepted

    def onOpen(self) -> None:  # noqa: N802 - autobahn's name
        super().onOpen()
        if RELEASE_HANDSHAKE.ok():
            try:
                self.release_handshake()
            except Exception as exc:  # noqa: BLE001 - keep the state; the connection is fine
                RELEASE_HANDSHAKE.fail(exc)

    def release_handshake(self) -> None:
        """Let go of what only the opening handshake needed (see ``HANDSHAKE_ATTRIBUTES``)."""
        path = self.request.path
        for name in HANDSHAKE_ATTRIBUTES:
            if getattr(self, name, None) is not None:
                setattr(self, name, None)
        self.request = OpenRequest(path)

    def _become_producer(self) -> None:
        """Replace the upgraded HTTP channel as the transport's producer.

        Twisted's ``HTTPChannel`` registered itself as its transport's producer, and
        daphne hands that transport over without unregistering it, so the channel,
        its request, headers and buffers lived as long as the connection (3.5 KB)
        and did nothing useful: its request is never finished, so its producer
        methods only set flags of its own. (Worse: once a slow client had filled
        the buffer, Twisted resumed it instead of closing when the buffer drained,
        so a ``loseConnection`` in between never completed.)
        """
        from twisted.web.http import HTTPChannel

        transport = self.transport
        if isinstance(getattr(transport, "producer", None), HTTPChannel):
            transport.unregisterProducer()
        if getattr(transport, "producer", True) is None:
            transport.registerProducer(self, True)

    # IPushProducer: Twisted tells when the client stopped taking what we write.

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's name
        """More than Twisted's buffer size waits for the client."""
        if not self.paused:  # Twisted says so again on every write while it is full
            self.paused = True
            self.backlog = 0

    def resumeProducing(self) -> None:  # noqa: N802 - Twisted's name
        """Everything written so far reached the kernel."""
        self.paused = False
        self.backlog = 0
        transport = self.transport
        if getattr(transport, "disconnecting", False):
            # Twisted resumes a paused producer instead of finishing a
            # loseConnection once the buffer drained; a producer that is done must
            # unregister for the close to complete (a slow client closed with 4408).
            transport.unregisterProducer()

    def stopProducing(self) -> None:  # noqa: N802 - Twisted's name
        """The connection is going away; daphne and autobahn handle that."""

    def wrote(self, size: int) -> None:
        """The chat handed ``size`` more bytes to this connection."""
        if self.paused:
            self.backlog += size

    def serverClose(self, code=None) -> None:  # noqa: N802 - daphne's name
        code = 1000 if code is None else code
        if not allowed_by_send_close(code) and CLOSE_FRAME.ok():
            try:
                self.sendCloseFrame(code=code, isReply=False)
                return
            except Exception as exc:  # noqa: BLE001 - fall back to a plain close below
                CLOSE_FRAME.fail(exc)
        super().serverClose(code if allowed_by_send_close(code) else 1000)


# --- the instance dict, in slots --------------------------------------------------

# What autobahn, daphne and Twisted set on every WebSocket connection's instance (an
# idle one, open). Seventy names are past the 30 an instance dict shares its keys for,
# so each connection had a dict of its own: 1.6 KB. In slots they take 8 bytes each.
INSTANCE_ATTRIBUTES = (
    "_perMessageCompress", "_raw_query_string", "_results", "_transport_details",
    "_valid_events", "_wskey", "application_deferred", "application_queue",
    "autoPingPending", "autoPingPendingCall", "autoPingPendingSent", "autoPingPendingSeq",
    "autoPingTimeoutCall", "clean_headers", "client_addr", "closeHandshakeTimeoutCall",
    "closedByMe", "current_frame", "data", "droppedByMe", "failedByMe", "handshake_deferred",
    "http_headers", "http_request_data", "http_request_host", "http_request_params",
    "http_request_path", "http_request_uri", "http_response_data", "http_status_line",
    "inside_message", "is_closed", "is_open", "last_ping", "localCloseCode",
    "localCloseReason", "openHandshakeTimeoutCall", "path", "peer", "protocol_to_accept",
    "remoteCloseCode", "remoteCloseReason", "request", "root_path", "send_queue",
    "send_state", "server", "server_addr", "socket_opened", "state", "trackedTimings",
    "trafficStats", "triggered", "utf8validator", "wasClean", "wasCloseHandshakeTimeout",
    "wasMaxFramePayloadSizeExceeded", "wasMaxMessagePayloadSizeExceeded",
    "wasNotCleanReason", "wasOpenHandshakeTimeout", "wasServerConnectionDropTimeout",
    "wasServingFlashSocketPolicyFile", "websocket_extensions", "websocket_extensions_in_use",
    "websocket_origin", "websocket_protocol_in_use", "websocket_protocols",
    "websocket_version",
)  # fmt: skip


def slot_names(base: type) -> tuple[str, ...]:
    """``INSTANCE_ATTRIBUTES`` that no class of ``base`` defines, and no setting.

    A slot would hide a class attribute of the same name (a default read before
    the instance sets its own); a setting stays a ``_FactorySetting`` of the class.
    """
    return slots.slot_names(base, INSTANCE_ATTRIBUTES, getattr(base, "CONFIG_ATTRS", ()))


class SlottedWebSocketProtocol(ChatWebSocketProtocol):
    """``ChatWebSocketProtocol`` with the per-connection attributes in slots.

    Names the libraries set that are not listed still go to the instance dict
    (frames in flight, a closing handshake): correct, only not as small.
    """

    __slots__ = slot_names(ChatWebSocketProtocol)


def _check_slots() -> None:
    readers = slots.dict_readers(ChatWebSocketProtocol.__mro__[1:])
    require(not readers, f"the protocol's own dict is read: {readers}")


PROTOCOL_SLOTS = Optimisation(
    name="autobahn.protocol_slots",
    library="autobahn",
    written_for="26.11.1",
    uses="the names WebSocketServerProtocol, daphne's WebSocketProtocol and Twisted's "
    "Protocol set on each connection (INSTANCE_ATTRIBUTES); none of them reads the "
    "instance's __dict__",
    buys="~1 KB per connection: 70 attributes in slots instead of an instance dict",
    without="each connection's attributes in a dict of its own",
    check=_check_slots,
)


def install(factory):
    """Make daphne's WebSocket ``factory`` build the chat's protocol; return it."""
    if FACTORY_SETTINGS.ok():
        for name in WebSocketProtocol.CONFIG_ATTRS:
            # A setting some class already has was never copied from the factory.
            if not hasattr(ChatWebSocketProtocol, name):
                setattr(ChatWebSocketProtocol, name, _FactorySetting(name))
    slotted = PROTOCOL_SLOTS.ok()
    factory.protocol = SlottedWebSocketProtocol if slotted else ChatWebSocketProtocol
    return factory
