"""Evaluate a StopSign checkpoint: pixel accuracy, mIoU (the paper's metric) and per-class IoU.

    gluon-aff eval-segmentation --data-dir ~/data/stopsign --run runs/fpn_aff_b1

``--mode val`` (default) scores the centre crops used during training; ``--mode testval`` scores
every image at full resolution, one at a time.
"""
import json
import os

from mxnet import gluon

from ..cli import (add_checkpoint_flags, add_device_flags, devices, load_from_flags, make_parser,
                   user_input)
from ..data.stopsign import StopSignSegmentation
from ..training.segmentation import evaluate_segmentation, image_transform


def parse_args(argv=None):
    p = make_parser(__doc__)
    p.add_argument('--data-dir', default=os.path.join('~', '.mxnet', 'datasets', 'stopsign'),
                   help='folder written by make-stopsign')
    add_checkpoint_flags(p)
    p.add_argument('--split', default='val', choices=['train', 'val'])
    p.add_argument('--mode', default='val', choices=['val', 'testval'])
    p.add_argument('--crop-size', type=int, default=480)
    p.add_argument('--batch-size', type=int, default=16)
    add_device_flags(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ctx = devices(args)
    with user_input():
        data_set = StopSignSegmentation(args.data_dir, args.split, mode=args.mode,
                                        transform=image_transform(), crop_size=args.crop_size)
    net, _ = load_from_flags(args, ctx)
    batch = args.batch_size if args.mode == 'val' else 1
    data = gluon.data.DataLoader(data_set, batch_size=batch)
    scores = evaluate_segmentation(net, data, data_set.num_class, ctx)
    print(json.dumps(scores, indent=1))
    return 0
