"""``python -m slixmpp_jet``: the command line (see :mod:`slixmpp_jet.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
