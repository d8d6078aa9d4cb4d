#!/usr/bin/env python
"""``python scripts/gradcam.py ...`` = ``gluon-aff gradcam ...``; ``--help`` lists the flags.

The command lives in gluon_aff/commands/gradcam.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
