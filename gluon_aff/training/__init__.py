"""Task-independent training machinery: atomic checkpoints, resumable state, run logs and the
shared training loop (:func:`gluon_aff.training.fit`)."""
from .checkpoint import *  # noqa: F401,F403
from .run import *  # noqa: F401,F403
from .runlog import *  # noqa: F401,F403
from .engine import *  # noqa: F401,F403
