"""The desktop bundle's entry point: the `latentscape` launcher (app/main.py), the window and
the whole command line, as the installed `latentscape` script runs it."""

import sys

from app.main import main

if __name__ == "__main__":
    sys.exit(main())
