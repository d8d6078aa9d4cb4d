#!/usr/bin/env python
"""Export a zoo model: ``python scripts/export.py MODEL --out DIR [--params FILE] [--onnx]``."""
import sys

from gluon_aff.export import main

if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
