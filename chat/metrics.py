"""Prometheus metrics of one process, exposed at ``/metrics``.

Counters are cheap (a lock and an add); the delivery path counts per broadcast,
not per receiver, to stay off the per-connection hot loop.
"""

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("chat_connections", "Open WebSocket connections in this process")
MESSAGES_STORED = Counter("chat_messages_stored_total", "Messages committed to the database")
DELIVERIES = Counter("chat_deliveries_total", "Frames of room messages sent to connections")
ERRORS = Counter("chat_errors_total", "error frames sent, by code", ["code"])
CLOSES = Counter("chat_closes_total", "Connections closed by the server, by close code", ["code"])
PERSIST_SECONDS = Histogram(
    "chat_persist_seconds",
    "Time to commit a batch of messages (group commit)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DELIVERY_SECONDS = Histogram(
    "chat_delivery_seconds",
    "From commit to the frame handed to the socket, per broadcast",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CACHE_LOOKUPS = Counter("chat_history_cache_total", "History cache lookups, by result", ["result"])
GAP_FILLS = Counter("chat_gap_fills_total", "Broadcasts the layer lost, filled from history")
