"""Reproduction of the paper's tables: the numbers (paper, original logs), the run plan that
measures each cell, and the report comparing them with our runs (``scripts/reproduce.py``)."""
from .tables import *  # noqa: F401,F403
from .plan import *  # noqa: F401,F403
from .report import *  # noqa: F401,F403
