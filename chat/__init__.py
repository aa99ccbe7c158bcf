"""Real-time chat rooms for Django: ``INSTALLED_APPS``, ``include("chat.urls")``, ``with_chat``.

See docs/integrate.md for the three wiring steps in a host project.
"""

__version__ = "1.0.0"
