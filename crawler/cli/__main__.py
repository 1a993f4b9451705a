"""``python -m crawler.cli`` runs the ``adarchive`` command."""

import sys

from crawler.cli.entry import main

sys.exit(main())
