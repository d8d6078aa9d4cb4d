"""gluon-aff: Attentional Feature Fusion (Dai et al., WACV 2021) for MXNet/Gluon.

>>> import gluon_aff
>>> net = gluon_aff.get_model('cifar_aff_resnet32')
"""
__version__ = '0.1.0'

_INSTALL_HINT = (
    'gluon-aff needs MXNet 1.9.1, which is installed separately (as with GluonCV). '
    'Install exactly one of:\n'
    '  CPU:          pip install -r requirements-cpu.txt    (mxnet==1.9.1)\n'
    '  NVIDIA GPU:   pip install -r requirements.txt        (mxnet-cu112==1.9.1)\n'
    'or: pip install "gluon-aff[cpu]" / "gluon-aff[gpu]". Original error: %s')

try:
    import mxnet as _mx  # noqa: F401
except ImportError as _err:  # pragma: no cover - exercised in a venv without mxnet
    raise ImportError(_INSTALL_HINT % _err) from None

from . import nn  # noqa: E402,F401
from . import model_zoo  # noqa: E402,F401
from .model_zoo import get_model, get_model_card, get_model_list  # noqa: E402,F401
from .nn import AFF, MSCAM, build_fusion, iAFF, FUSIONS  # noqa: E402,F401
