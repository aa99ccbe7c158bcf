"""The demo site's ASGI entry point: Django for HTTP, the chat for its WebSockets.

The three lines below are the whole wiring a host project needs (docs/integrate.md).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Load Django (and its app registry) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from chat.asgi import with_chat  # noqa: E402

application = with_chat(django_asgi_app)
