#!/usr/bin/env python3
"""claw from a checkout: `python claw.py ...` runs the same CLI as the installed `claw`.

The CLI lives in ``lib/cli.py`` (installed as the package ``claw``), so that the
checkout and the console script are one program.
"""

import sys

try:
    from lib import __version__
    from lib.cli import entry_point, main
except KeyboardInterrupt:  # Ctrl-C while Python loads claw: no traceback, the usual status
    sys.exit(130)

__all__ = ["__version__", "entry_point", "main"]

if __name__ == "__main__":
    entry_point()
