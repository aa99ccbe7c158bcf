"""The wire format of the room WebSocket: frames, error and close codes, ``since``.

Pure Python, no Django: the server and the terminal client both import it, and
nothing else of ``chat``.
"""
