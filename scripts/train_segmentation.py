"""Train ResNet-20-b + FPN (any fusion) on StopSign with the paper's Table 2 recipe.

Examples::

    python scripts/train_segmentation.py --data-dir ~/data/stopsign --model fpn_aff_resnet_b1 \
        --gpus 0 --save-dir runs/fpn_aff_b1
    python scripts/train_segmentation.py --resume --save-dir runs/fpn_aff_b1   # continue

Defaults: AdaGrad, lr 0.01, poly, 300 epochs, batch 32, cross-entropy; metrics pixel accuracy and
mIoU (the paper's metric). Writes train.log, metrics.jsonl, last/best checkpoints, curves.png.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import mxnet as mx  # noqa: E402

from gluon_aff import get_model  # noqa: E402
from gluon_aff.data.stopsign import StopSignSegmentation  # noqa: E402
from gluon_aff.training import setup_logger  # noqa: E402
from gluon_aff.training.segmentation import (INITIALIZERS, SegmentationRecipe,  # noqa: E402
                                             plot_curves, train_segmentation)


def parse_args(argv=None):
    d = SegmentationRecipe()
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--data-dir', default=os.path.join('~', '.mxnet', 'datasets', 'stopsign'),
                   help='folder written by make_stopsign.py')
    p.add_argument('--model', default='fpn_aff_resnet_b1', help='an fpn_<tag>_resnet_b<b> name')
    p.add_argument('--form', choices=['original', 'paper'], default='original')
    p.add_argument('--upsample', choices=['nearest', 'bilinear'], default='nearest')
    p.add_argument('--epochs', type=int, default=d.epochs)
    p.add_argument('--batch-size', type=int, default=d.batch_size, help='total over devices')
    p.add_argument('--lr', type=float, default=d.lr)
    p.add_argument('--optimizer', default=d.optimizer)
    p.add_argument('--lr-mode', default=d.lr_mode, choices=['poly', 'constant', 'cosine'])
    p.add_argument('--wd', type=float, default=d.wd)
    p.add_argument('--init', default=d.init, choices=sorted(INITIALIZERS))
    p.add_argument('--base-size', type=int, default=d.base_size)
    p.add_argument('--crop-size', type=int, default=d.crop_size)
    p.add_argument('--gpus', default='', help='e.g. 0,1; empty = CPU')
    p.add_argument('-j', '--num-workers', type=int, default=4)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--save-dir', default='runs/stopsign')
    p.add_argument('--resume', action='store_true', help='continue from SAVE_DIR/last')
    p.add_argument('--no-hybridize', action='store_true')
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ctx = [mx.gpu(int(i)) for i in args.gpus.split(',') if i.strip()] or [mx.cpu()]
    recipe = SegmentationRecipe(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        lr_mode=args.lr_mode, wd=args.wd, init=args.init, base_size=args.base_size,
        crop_size=args.crop_size).validate()
    sizes = dict(base_size=recipe.base_size, crop_size=recipe.crop_size)
    train_set = StopSignSegmentation(args.data_dir, 'train', **sizes)
    val_set = StopSignSegmentation(args.data_dir, 'val', **sizes)
    net = get_model(args.model, classes=train_set.num_class, form=args.form,
                    upsample=args.upsample)
    logger = setup_logger(args.save_dir)
    result = train_segmentation(
        net, train_set, val_set, recipe, args.save_dir, ctx=ctx, seed=args.seed,
        resume=args.resume, num_workers=args.num_workers, hybridize=not args.no_hybridize,
        checkpoint_info={'model': args.model, 'form': args.form, 'upsample': args.upsample},
        logger=logger, progress=not args.no_progress)
    plot_curves(args.save_dir)
    print(json.dumps({'best_val_miou': result['best'], 'best_epoch': result['best_epoch']}))
    return 0


if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
