"""The terminal client (``python -m chat.cli``). Imports only ``chat.wire`` of the chat."""
