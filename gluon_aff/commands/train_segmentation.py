"""Train ResNet-20-b + FPN (any fusion) on StopSign with the paper's Table 2 recipe.

Examples::

    gluon-aff train-segmentation --data-dir ~/data/stopsign --model fpn_aff_resnet_b1 \\
        --gpus 0 --save-dir runs/fpn_aff_b1
    gluon-aff train-segmentation --resume runs/fpn_aff_b1   # continue (same flags as before)

Defaults: AdaGrad, lr 0.01, poly, 300 epochs, batch 32, cross-entropy; metrics pixel accuracy and
mIoU (the paper's metric). Writes train.log, metrics.jsonl, last/best checkpoints, curves.png.
"""
import json
import os

from ..cli import (UserError, add_device_flags, add_run_flags, devices, make_parser, run_flags,
                   user_input)
from ..data.stopsign import StopSignSegmentation
from ..model_zoo import get_model
from ..training.engine import fit
from ..training.run import Run, model_card, model_record
from ..training.segmentation import (INITIALIZERS, SegmentationRecipe, plot_curves,
                                     train_segmentation)


def parse_args(argv=None):
    d = SegmentationRecipe()
    p = make_parser(__doc__)
    p.add_argument('--data-dir', default=os.path.join('~', '.mxnet', 'datasets', 'stopsign'),
                   help='folder written by make-stopsign')
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
    add_device_flags(p)
    p.add_argument('-j', '--num-workers', type=int, default=4)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-hybridize', action='store_true')
    p.add_argument('--no-progress', action='store_true')
    add_run_flags(p, save_dir_default=os.path.join('runs', 'stopsign'))
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    save_dir, resume, overwrite = run_flags(args)
    Run.check(save_dir, resume, overwrite)
    ctx = devices(args)
    card = model_card(args.model)
    if card['task'] != 'segmentation':
        raise UserError('%s is a %s model for %s; train-segmentation trains the FPN networks '
                        '(fpn_* names of gluon_aff.get_model_list())'
                        % (args.model, card['task'], card['dataset']))
    with user_input():
        recipe = SegmentationRecipe(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            optimizer=args.optimizer, lr_mode=args.lr_mode, wd=args.wd, init=args.init,
            base_size=args.base_size, crop_size=args.crop_size).validate()
        sizes = dict(base_size=recipe.base_size, crop_size=recipe.crop_size)
        train_set = StopSignSegmentation(args.data_dir, 'train', **sizes)
        val_set = StopSignSegmentation(args.data_dir, 'val', **sizes)
        kwargs = dict(classes=train_set.num_class, form=args.form, upsample=args.upsample)
        net = get_model(args.model, **kwargs)
    with Run(save_dir, resume=resume, overwrite=overwrite) as run:
        run.logger.info('data: StopSign images and masks from %s (manifest.json of '
                        'make-stopsign): %d train / %d val images', os.path.expanduser(
                            args.data_dir), len(train_set), len(val_set))
        run.logger.info('labels: %s', ', '.join(StopSignSegmentation.CLASSES))
        with user_input(except_in=(fit,)):
            result = train_segmentation(
                net, train_set, val_set, recipe, run, ctx=ctx, seed=args.seed, resume=resume,
                num_workers=args.num_workers, hybridize=not args.no_hybridize,
                logger=run.logger, progress=not args.no_progress,
                model=model_record(args.model, kwargs))
        plot_curves(save_dir)
    print(json.dumps({'best_val_miou': result['best'], 'best_epoch': result['best_epoch']}))
    return 0
