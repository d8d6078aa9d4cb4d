#!/usr/bin/env python
"""Export a zoo model: ``python scripts/export.py MODEL --out DIR [--params FILE] [--onnx]``."""
from gluon_aff.export import main

if __name__ == '__main__':
    raise SystemExit(main())
