"""The Channels tutorial design, as a tiny separate Django project run under daphne.

Run: ``DJANGO_SETTINGS_MODULE=bench.baselines.tutorial.settings
daphne -b 127.0.0.1 -p 8001 bench.baselines.tutorial.asgi:application``
"""
