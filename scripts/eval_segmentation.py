"""Evaluate a StopSign checkpoint: pixel accuracy, mIoU (the paper's metric) and per-class IoU.

    python scripts/eval_segmentation.py --data-dir ~/data/stopsign --checkpoint runs/fpn_aff_b1/best

``--mode val`` (default) scores the centre crops used during training; ``--mode testval`` scores
every image at full resolution, one at a time.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import mxnet as mx  # noqa: E402
from mxnet import gluon  # noqa: E402

from gluon_aff.data.stopsign import StopSignSegmentation  # noqa: E402
from gluon_aff.training.segmentation import (evaluate_segmentation,  # noqa: E402
                                             image_transform, load_segmentation_net)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--data-dir', required=True)
    p.add_argument('--checkpoint', required=True, help='checkpoint prefix, e.g. RUN/best')
    p.add_argument('--split', default='val', choices=['train', 'val'])
    p.add_argument('--mode', default='val', choices=['val', 'testval'])
    p.add_argument('--crop-size', type=int, default=480)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--gpus', default='')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ctx = [mx.gpu(int(i)) for i in args.gpus.split(',') if i.strip()] or [mx.cpu()]
    data_set = StopSignSegmentation(args.data_dir, args.split, mode=args.mode,
                                    transform=image_transform(), crop_size=args.crop_size)
    net = load_segmentation_net(args.checkpoint, ctx)
    batch = args.batch_size if args.mode == 'val' else 1
    data = gluon.data.DataLoader(data_set, batch_size=batch)
    scores = evaluate_segmentation(net, data, data_set.num_class, ctx)
    print(json.dumps(scores, indent=1))
    return 0


if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
