#!/usr/bin/env python
"""``gluon-aff predict-segmentation`` as a script (same flags; ``--help`` lists them).

The command lives in gluon_aff/commands/predict_segmentation.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
