"""Shared test infrastructure: child processes, waiting, service checks."""
