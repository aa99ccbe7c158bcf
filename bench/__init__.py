"""Benchmark suite: load generator, baselines, scenarios and report (``python -m bench.run``).

Nothing here is imported by the product; the product is driven only through its
public WebSocket protocol, like any other client.
"""
