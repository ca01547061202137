"""Allow ``python -m carenet``."""

import sys

from carenet.cli import main

sys.exit(main())
