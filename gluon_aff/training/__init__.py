"""Task-independent training machinery: atomic checkpoints, resumable state, run logs."""
from .checkpoint import *  # noqa: F401,F403
from .runlog import *  # noqa: F401,F403
