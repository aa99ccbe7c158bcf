"""Baselines the product is compared with, each speaking the same minimal protocol.

``raw_ws``: a plain ``websockets`` server (the raw-WebSocket ceiling).
``tutorial``: the Channels tutorial design under daphne (one group per room,
``group_send`` per message, channels-redis core layer).
"""
