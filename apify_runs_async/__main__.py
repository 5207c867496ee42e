"""`python -m apify_runs_async`: the `apify-runs` command line."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
