#!/usr/bin/env python
"""``python scripts/train_imagenet.py ...`` = ``gluon-aff train-imagenet ...``; ``--help`` lists the flags.

The command lives in gluon_aff/commands/train_imagenet.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
