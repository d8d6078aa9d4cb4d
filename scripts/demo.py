#!/usr/bin/env python
"""``python scripts/demo.py ...`` = ``gluon-aff demo ...``; ``--help`` lists the flags.

The command lives in gluon_aff/commands/demo.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
