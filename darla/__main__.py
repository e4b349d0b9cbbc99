"""``python -m darla`` runs the ``darla`` command."""

import sys

from darla.cli import main

sys.exit(main())
