"""``python -m bangka_ops.cli`` runs ``cekat``."""

import sys

from bangka_ops.cli.cekat import main

sys.exit(main())
