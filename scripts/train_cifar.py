"""Train an AFF network on CIFAR-100 (20 super-classes by default) with the final or paper recipe.

Examples::

    python scripts/train_cifar.py --model cifar_aff_resnet32 --recipe final --data-dir ~/data/cifar100
    python scripts/train_cifar.py --host resnet --fusion iaff --blocks 2 --version paper \
        --recipe paper --labels coarse --gpus 0 --save-dir runs/iaff_b2
    python scripts/train_cifar.py --resume runs/iaff_b2          # continue an interrupted run

Every value of the recipe can be overridden; see ``gluon_aff/training/cifar.py`` and
``docs/training_cifar.md``.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import mxnet as mx  # noqa: E402

from gluon_aff.data import CIFAR100, download_cifar100, num_label_classes  # noqa: E402
from gluon_aff.training import NonFiniteLossError, setup_logger  # noqa: E402
from gluon_aff.training.cifar import (INITIALIZERS, RECIPES, build_cifar_model,  # noqa: E402
                                      get_recipe, total_batch_size, train_classifier)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group('model')
    g.add_argument('--model', help='a CIFAR zoo name, e.g. cifar_aff_resnet32')
    g.add_argument('--host', choices=['resnet', 'resnext'], help='host when --model is not given')
    g.add_argument('--fusion', default='aff', help='fusion tag (with --host)')
    g.add_argument('--blocks', type=int, help='blocks per stage (with --host; 5 resnet, 4 resnext)')
    g.add_argument('--version', choices=['final', 'paper'], default='final',
                   help='host version (with --host)')
    g.add_argument('--classes', type=int, default=100,
                   help='head size; 100 as the original even for --labels coarse (20 gives a '
                        '20-output head)')
    g = p.add_argument_group('data')
    g.add_argument('--labels', choices=['coarse', 'fine'], default='coarse',
                   help='20 super-classes (paper) or 100 fine classes')
    g.add_argument('--data-dir', default='~/.mxnet/datasets/cifar100',
                   help='folder with cifar-100-python(.tar.gz) or cifar-100-binary(.tar.gz)')
    g.add_argument('--download', action='store_true', help="fetch the data with gluon's downloader")
    g.add_argument('-j', '--num-workers', type=int, default=4, help='data loader processes')
    g = p.add_argument_group('recipe (defaults come from --recipe)')
    g.add_argument('--recipe', choices=sorted(RECIPES), default='final')
    g.add_argument('--epochs', type=int)
    g.add_argument('--batch-size', type=int, help='TOTAL batch over all devices')
    g.add_argument('--per-device-batch', dest='per_device_batch', action='store_true',
                   default=None, help='--batch-size is per device (the original behaviour)')
    g.add_argument('--total-batch', dest='per_device_batch', action='store_false',
                   help='--batch-size is the total (default)')
    g.add_argument('--lr', type=float)
    g.add_argument('--momentum', type=float)
    g.add_argument('--wd', type=float)
    g.add_argument('--no-wd', dest='no_wd', action='store_true', default=None,
                   help='no weight decay on BN gamma/beta and biases')
    g.add_argument('--wd-all', dest='no_wd', action='store_false', help='decay every parameter')
    g.add_argument('--lr-mode', choices=['cosine', 'step'])
    g.add_argument('--warmup-epochs', type=int)
    g.add_argument('--warmup-lr', type=float)
    g.add_argument('--lr-decay', type=float, help='step factor')
    g.add_argument('--lr-decay-epochs', type=lambda s: [int(e) for e in s.split(',') if e],
                   help='comma-separated epochs of the step decay, e.g. 300,350')
    g.add_argument('--mixup', dest='mixup', action='store_true', default=None)
    g.add_argument('--no-mixup', dest='mixup', action='store_false')
    g.add_argument('--mixup-alpha', type=float)
    g.add_argument('--mixup-off-epochs', type=int, help='last epochs trained without mixup')
    g.add_argument('--label-smoothing', type=float, help='eta; 0 disables')
    g.add_argument('--init', choices=sorted(INITIALIZERS),
                   help='xavier (original code) or kaiming (paper, Table 2)')
    g = p.add_argument_group('run')
    g.add_argument('--seed', type=int, default=0)
    g.add_argument('--gpus', default='', help='e.g. 0,1,2,3; CPU when empty')
    g.add_argument('--save-dir', default=None, help='default runs/<model>-<labels>-<recipe>')
    g.add_argument('--resume', metavar='DIR', help='continue the run saved in DIR')
    g.add_argument('--no-hybridize', action='store_true')
    g.add_argument('--amp', choices=['bfloat16', 'float16'], default=None,
                   help='mixed precision with mxnet.contrib.amp: bfloat16 on CPUs (avx512_bf16), '
                        'float16 on GPUs')
    g.add_argument('--no-progress', action='store_true', help='no tqdm bar')
    return p.parse_args(argv)


RECIPE_FLAGS = ('epochs', 'batch_size', 'per_device_batch', 'lr', 'momentum', 'wd', 'no_wd',
                'lr_mode', 'warmup_epochs', 'warmup_lr', 'lr_decay', 'lr_decay_epochs', 'mixup',
                'mixup_alpha', 'mixup_off_epochs', 'label_smoothing', 'init')


def contexts(gpus):
    ids = [int(i) for i in gpus.split(',') if i.strip()]
    return [mx.gpu(i) for i in ids] if ids else [mx.cpu()]


def main(argv=None):
    cli = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(cli)
    run_argv = cli
    if args.resume:
        meta = os.path.join(args.resume, 'last.json')
        if not os.path.isfile(meta):
            raise FileNotFoundError('cannot resume: %s not found (no complete checkpoint in %s)'
                                    % (meta, args.resume))
        with open(meta) as f:
            run_argv = json.load(f)['info']['argv']
        args = parse_args(run_argv + cli)          # flags given now win over the saved ones
    ctx = contexts(args.gpus)
    if args.classes < num_label_classes(args.labels):
        raise ValueError('--classes %d is smaller than the %d %s labels'
                         % (args.classes, num_label_classes(args.labels), args.labels))
    recipe = get_recipe(args.recipe, **{k: getattr(args, k) for k in RECIPE_FLAGS})
    total_batch_size(recipe.batch_size, len(ctx), recipe.per_device_batch)
    net = build_cifar_model(args.model, args.host, args.fusion, args.blocks, args.version,
                            args.classes)
    name = args.model or 'cifar_%s_%s_b%s_%s' % (args.fusion, args.host,
                                                 args.blocks or 'default', args.version)
    save_dir = args.resume or args.save_dir or os.path.join(
        'runs', '%s-%s-%s' % (name, args.labels, args.recipe))
    if args.download:
        download_cifar100(args.data_dir)
    train_set = CIFAR100(args.data_dir, train=True, labels=args.labels)
    val_set = CIFAR100(args.data_dir, train=False, labels=args.labels)
    logger = setup_logger(save_dir)
    info = {'argv': run_argv, 'name': name, 'labels': args.labels, 'data_dir': args.data_dir,
            'model_spec': {'model': args.model, 'host': args.host, 'fusion': args.fusion,
                           'blocks': args.blocks, 'version': args.version,
                           'classes': args.classes}}
    try:
        result = train_classifier(net, train_set, val_set, recipe, save_dir, ctx=ctx,
                                  classes=args.classes, seed=args.seed, resume=bool(args.resume),
                                  num_workers=args.num_workers, checkpoint_info=info,
                                  hybridize=not args.no_hybridize, logger=logger,
                                  progress=not args.no_progress, amp=args.amp)
    except NonFiniteLossError as err:
        logger.error(str(err))
        raise
    logger.info('done: best val_acc %s at epoch %s; outputs in %s', result['best'],
                result['best_epoch'], save_dir)
    return result


if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
