"""The demo site's launcher: ``python -m chatsite.serve`` is ``python -m chat.serve`` with its settings.

A host project runs ``DJANGO_SETTINGS_MODULE=mysite.settings python -m chat.serve``.
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    from chat.serve import main

    sys.exit(main())
