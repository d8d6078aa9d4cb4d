"""Build the StopSign segmentation subset (COCO "stop sign" images, binary masks).

Examples::

    gluon-aff make-stopsign --coco-root ~/data/coco --out ~/data/stopsign
    gluon-aff make-stopsign --coco-root ~/data/coco --out stopsign_ignore --crowd ignore \\
        --min-instance-area 64

Reads ``COCO/annotations/instances_{train,val}YEAR.json`` and ``COCO/{train,val}YEAR/``; writes
``OUT/{train,val}/images``, ``OUT/{train,val}/masks`` (0 background, 1 stop sign, 255 ignore) and
``OUT/manifest.json`` (counts and filters). See ``gluon_aff/data/stopsign.py`` and
``docs/segmentation.md``.
"""
import json
import os

from ..cli import make_parser, user_input
from ..data.stopsign import CROWD_MODES, build_stopsign


def parse_args(argv=None):
    p = make_parser(__doc__)
    p.add_argument('--coco-root', required=True, help='COCO folder (annotations/, train2017/...)')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--year', default='2017', help='COCO release whose train/val split is used')
    p.add_argument('--splits', nargs='+', default=['train', 'val'], choices=['train', 'val'])
    p.add_argument('--crowd', choices=CROWD_MODES, default='foreground',
                   help='what crowd annotations become in the mask')
    p.add_argument('--min-instance-area', type=int, default=0,
                   help='non-crowd instances with fewer pixels become ignore (255)')
    p.add_argument('--min-image-size', type=int, default=0,
                   help='drop images whose shorter side is smaller')
    p.add_argument('--min-foreground', type=int, default=1000,
                   help='drop images with this many stop-sign pixels or fewer (GluonCV COCO rule)')
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with user_input():
        manifest = build_stopsign(
            os.path.expanduser(args.coco_root), os.path.expanduser(args.out), year=args.year,
            crowd=args.crowd, min_instance_area=args.min_instance_area,
            min_image_size=args.min_image_size, min_foreground=args.min_foreground,
            splits=tuple(args.splits), progress=not args.no_progress)
    summary = {split: {k: v for k, v in counts.items() if k != 'files'}
               for split, counts in manifest['splits'].items()}
    print(json.dumps({'filters': manifest['filters'], 'splits': summary}, indent=1,
                     sort_keys=True))
    return 0
