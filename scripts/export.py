#!/usr/bin/env python
"""``python scripts/export.py ...`` = ``gluon-aff export ...``; ``--help`` lists the flags.

The command lives in gluon_aff/export.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
