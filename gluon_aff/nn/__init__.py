"""Fusion building blocks: MS-CAM, AFF, iAFF and the paper's ablation fusions."""
from .fusion import *  # noqa: F401,F403
from .fusion import resolve_fusion  # noqa: F401
