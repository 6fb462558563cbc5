"""``python -m ingest PATH... [--prune] [--json]`` is ``assistant ingest``."""

import sys

from assistant.cli import main

sys.exit(main(["ingest", *sys.argv[1:]]))
