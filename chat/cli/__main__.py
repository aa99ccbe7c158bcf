"""``python -m chat.cli``: the terminal client."""

import sys

from chat.cli.main import main

sys.exit(main())
