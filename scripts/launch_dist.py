#!/usr/bin/env python
"""``python scripts/launch_dist.py ...`` = ``gluon-aff launch-dist ...``; ``--help`` lists the flags.

The command lives in gluon_aff/training/distributed.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
