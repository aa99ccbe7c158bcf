"""The one seam to private internals of daphne, autobahn, Twisted and channels-redis.

Nothing outside this package touches another library's private names. Each use is
an ``Optimisation`` (``contract``) whose names are checked before it is used: a
missing or changed name turns that optimisation off with one warning line, and the
chat keeps serving at plain channels/daphne speed. ``startup.check_and_install``
runs every check when ``chat.serve`` starts. See docs/architecture.md.
"""
