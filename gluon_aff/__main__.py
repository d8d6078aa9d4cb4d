"""``python -m gluon_aff <command> [flags]``: the ``gluon-aff`` command line."""
import sys

from .commands import main

sys.exit(main())
