"""Data sets: CIFAR-10/100 from the real local archives and the scikit-learn digits demo set;
AutoAugment as the original applied it.

ImageNet data (``gluon_aff.data.imagenet``) is imported as a submodule on its own.
"""
from .autoaugment import AutoAugment, AUTOAUGMENT_POLICIES  # noqa: F401
from .cifar import *  # noqa: F401,F403
from .digits import *  # noqa: F401,F403
