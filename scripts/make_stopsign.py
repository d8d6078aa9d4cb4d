#!/usr/bin/env python
"""``python scripts/make_stopsign.py ...`` = ``gluon-aff make-stopsign ...``; ``--help`` lists the flags.

The command lives in gluon_aff/commands/make_stopsign.py.
"""
from gluon_aff.commands import script_main

if __name__ == '__main__':
    script_main(__file__)
