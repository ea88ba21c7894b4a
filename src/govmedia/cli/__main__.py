"""``python -m govmedia.cli``: the ``govmedia`` command."""

import sys

from govmedia.cli import main

sys.exit(main())
