"""Plot train/val curves of one or more runs (their metrics.jsonl) to a PNG.

    gluon-aff plot-curves runs/a runs/b --out curves.png --names AFF iAFF
"""
from ..cli import make_parser, user_input
from ..training.curves import plot_curves


def main(argv=None):
    p = make_parser(__doc__)
    p.add_argument('runs', nargs='+', help='run folders or metrics.jsonl files')
    p.add_argument('--out', default='curves.png', help='output PNG')
    p.add_argument('--names', nargs='+', help='legend names (default: folder names)')
    p.add_argument('--title')
    args = p.parse_args(argv)
    with user_input():
        path = plot_curves(args.runs, args.out, args.names, args.title)
    print('wrote %s' % path)
    return 0
