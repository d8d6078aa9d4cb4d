#!/usr/bin/env python
"""``python scripts/train_cifar.py ...`` = ``gluon-aff train-cifar ...``; ``--help`` lists the flags.

The command lives in gluon_aff/commands/train_cifar.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
