"""Host networks of the paper and the GluonCV-style model zoo (registry with model cards)."""
from .common import *  # noqa: F401,F403
from .cifar_resnet import *  # noqa: F401,F403
from .resnet import *  # noqa: F401,F403
from .resnext import *  # noqa: F401,F403
from .inception import *  # noqa: F401,F403
from .fpn import *  # noqa: F401,F403
from .registry import *  # noqa: F401,F403
from .model_zoo import *  # noqa: F401,F403
from .model_store import get_model_file  # noqa: F401
