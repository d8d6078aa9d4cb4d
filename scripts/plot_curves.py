#!/usr/bin/env python
"""``python scripts/plot_curves.py ...`` = ``gluon-aff plot-curves ...``; ``--help`` lists the flags.

The command lives in gluon_aff/commands/plot_curves.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
