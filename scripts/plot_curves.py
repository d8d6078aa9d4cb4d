"""Plot train/val curves of one or more runs (their metrics.jsonl) to a PNG.

    python scripts/plot_curves.py runs/a runs/b --out curves.png --names AFF iAFF
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from gluon_aff.training.curves import plot_curves  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('runs', nargs='+', help='run folders or metrics.jsonl files')
    p.add_argument('--out', default='curves.png', help='output PNG')
    p.add_argument('--names', nargs='+', help='legend names (default: folder names)')
    p.add_argument('--title')
    args = p.parse_args(argv)
    path = plot_curves(args.runs, args.out, args.names, args.title)
    print('wrote %s' % path)


if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
