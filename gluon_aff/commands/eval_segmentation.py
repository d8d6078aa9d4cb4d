"""Evaluate a StopSign checkpoint: foreground IoU, two-class mean IoU, pixel accuracy, per-class IoU.

    gluon-aff eval-segmentation --data-dir ~/data/stopsign --run runs/fpn_aff_b1

``--mode full`` (default) scores every image at full resolution, one at a time; ``sliding``
scores whole images with GluonCV's sliding windows (long side resized to ``--base-size``,
``--crop-size`` windows); ``crop`` the centre crops (GluonCV's ``val``; ``testval`` = ``full``).
The output names the score compared with the paper's mIoU (``paper_metric``: ``miou``, the
foreground IoU).
"""
import json
import os

from mxnet import gluon

from ..cli import (add_checkpoint_flags, add_device_flags, devices, load_from_flags, make_parser,
                   user_input)
from ..data.stopsign import StopSignSegmentation
from ..training.segmentation import (EVAL_MODES, eval_mode, evaluate_segmentation,
                                     image_transform)


def parse_args(argv=None):
    p = make_parser(__doc__)
    p.add_argument('--data-dir', default=os.path.join('~', '.mxnet', 'datasets', 'stopsign'),
                   help='folder written by make-stopsign')
    add_checkpoint_flags(p)
    p.add_argument('--split', default='val', choices=['train', 'val'])
    p.add_argument('--mode', default='full', choices=sorted(EVAL_MODES) + ['testval', 'val'])
    p.add_argument('--base-size', type=int, default=520)
    p.add_argument('--crop-size', type=int, default=480)
    p.add_argument('--batch-size', type=int, default=16)
    add_device_flags(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ctx = devices(args)
    mode = eval_mode(args.mode)
    with user_input():
        data_set = StopSignSegmentation(args.data_dir, args.split, mode=EVAL_MODES[mode],
                                        transform=image_transform(), base_size=args.base_size,
                                        crop_size=args.crop_size)
    net, _ = load_from_flags(args, ctx)
    batch = args.batch_size if mode == 'crop' else 1
    data = gluon.data.DataLoader(data_set, batch_size=batch)
    scores = evaluate_segmentation(net, data, data_set.num_class, ctx, mode, args.base_size,
                                   args.crop_size)
    print(json.dumps(scores, indent=1))
    return 0
