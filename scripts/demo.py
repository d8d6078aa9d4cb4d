"""The README's first job: train a small AFF-ResNet on real images in about a minute on a CPU.

scikit-learn's 8x8 digits (installed with the package) are enlarged to 32x32x3 and split
train/val; a paper-version AFF-ResNet-20-b (b = 1, 10 outputs) is trained through the same code
path as ``scripts/train_cifar.py`` (gluon_aff.training.cifar.train_classifier -> fit). Outputs
under ``--save-dir`` (default runs/demo): checkpoints, train.log, metrics.jsonl, curves.png and
the exported symbol export/aff_resnet_digits-symbol.json + -0000.params.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import mxnet as mx  # noqa: E402

from gluon_aff.data import DIGIT_CLASSES, digits_datasets, digits_transforms  # noqa: E402
from gluon_aff.model_zoo import get_cifar_resnet  # noqa: E402
from gluon_aff.training import setup_logger  # noqa: E402
from gluon_aff.training.cifar import get_recipe, train_classifier  # noqa: E402
from gluon_aff.training.curves import plot_curves  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--save-dir', default=os.path.join('runs', 'demo'))
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--lr', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--fusion', default='aff', help='fusion tag of the host')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    tic = time.time()
    train_set, val_set = digits_datasets(val_fraction=0.25, seed=args.seed)
    # the final recipe shortened: 1 warm-up epoch, cosine, label smoothing, no mixup
    recipe = get_recipe('final', epochs=args.epochs, warmup_epochs=min(1, args.epochs - 1),
                        batch_size=args.batch_size, lr=args.lr, mixup=False)
    net = get_cifar_resnet(args.fusion, blocks=1, version='paper', classes=DIGIT_CLASSES)
    logger = setup_logger(args.save_dir)
    logger.info('digits: %d train / %d val images, 32x32x3, %d classes', len(train_set),
                len(val_set), DIGIT_CLASSES)
    result = train_classifier(net, train_set, val_set, recipe, args.save_dir, ctx=mx.cpu(),
                              classes=DIGIT_CLASSES, seed=args.seed, transforms=(digits_transforms(True), digits_transforms(False)),
                              logger=logger, progress=not args.no_progress,
                              checkpoint_info={'name': 'demo_%s_resnet_b1' % args.fusion,
                                               'labels': 'digits',
                                               'model_spec': None})
    curves = plot_curves([args.save_dir], os.path.join(args.save_dir, 'curves.png'),
                         names=['%s-ResNet-20-b1 on digits' % args.fusion.upper()])
    export_prefix = os.path.join(args.save_dir, 'export', 'aff_resnet_digits')
    os.makedirs(os.path.dirname(export_prefix), exist_ok=True)
    net.hybridize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    net.export(export_prefix)
    val_acc = result['last']['val_acc']
    print('\nfinal val accuracy %.4f (chance 0.10), best %.4f at epoch %d, %.0f s'
          % (val_acc, result['best'], result['best_epoch'] + 1, time.time() - tic))
    print('outputs in %s:' % args.save_dir)
    print('  checkpoints   %s/{last,best}.{params,states,json}' % args.save_dir)
    print('  metrics, log  %s/metrics.jsonl, %s/train.log' % (args.save_dir, args.save_dir))
    print('  curves        %s' % curves)
    print('  symbol        %s-symbol.json, %s-0000.params' % (export_prefix, export_prefix))
    print('next: real CIFAR-100 (20 super-classes, final recipe):\n'
          '  python scripts/train_cifar.py --model cifar_aff_resnet32 --recipe final '
          '--data-dir ~/.mxnet/datasets/cifar100 --download --gpus 0')
    return result


if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
