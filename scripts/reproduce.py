#!/usr/bin/env python
"""``python scripts/reproduce.py ...`` = ``gluon-aff reproduce ...``; ``--help`` lists the flags.

The command lives in gluon_aff/commands/reproduce.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
