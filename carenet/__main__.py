"""Allow ``python -m carenet``."""

import sys

from carenet.sim.cli import main

sys.exit(main())
