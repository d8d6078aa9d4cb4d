"""Data sets: CIFAR-100 from the real local archives and the scikit-learn digits demo set.

ImageNet data (``gluon_aff.data.imagenet``) is imported as a submodule on its own.
"""
from .cifar import *  # noqa: F401,F403
from .digits import *  # noqa: F401,F403
