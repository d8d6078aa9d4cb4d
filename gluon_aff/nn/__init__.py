"""Fusion building blocks: MS-CAM, AFF, iAFF and the paper's ablation fusions."""
from .fusion import *  # noqa: F401,F403
