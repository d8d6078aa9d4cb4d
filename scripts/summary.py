#!/usr/bin/env python
"""Parameters and multiply-adds of gluon-aff zoo models.

    python scripts/summary.py aff_resnet50            # one model at its input size
    python scripts/summary.py --all                   # table over every zoo model
    python scripts/summary.py --table7                # supplement Table 7, formula vs counted
"""
import sys

from gluon_aff.summary import main

if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
