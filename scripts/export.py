#!/usr/bin/env python
"""``gluon-aff export`` as a script (same flags; ``--help`` lists them).

The command lives in gluon_aff/export.py.
"""
from gluon_aff.commands import command_main, script_main

main = command_main('export')  # main(argv): importable, as before

if __name__ == '__main__':
    script_main(__file__)
