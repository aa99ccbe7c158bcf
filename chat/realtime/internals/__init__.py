"""The one seam to private internals of daphne, autobahn, Twisted and channels-redis.

Each use is an optimisation listed in the contract and checked at start-up: a
missing or changed name turns that optimisation off with one warning line, and the
chat keeps serving at plain channels/daphne speed.
"""
