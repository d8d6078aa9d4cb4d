#!/usr/bin/env python
"""``python scripts/eval_segmentation.py ...`` = ``gluon-aff eval-segmentation ...``; ``--help`` lists the flags.

The command lives in gluon_aff/commands/eval_segmentation.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
