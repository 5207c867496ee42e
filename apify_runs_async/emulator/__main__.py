"""`python -m apify_runs_async.emulator`: serve the emulator until SIGINT or SIGTERM."""

import sys

from ._command import main

if __name__ == "__main__":
    sys.exit(main())
