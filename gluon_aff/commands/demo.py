"""The README's first job: train a small AFF-ResNet on real images, offline, on a CPU.

scikit-learn's 8x8 digits (``pip install "gluon-aff[demo]"``) are enlarged to 32x32x3 and split
train/val; a paper-version AFF-ResNet-20-b (b = 1, 10 outputs) is trained through the same code
path as ``gluon-aff train-cifar`` (gluon_aff.training.cifar.train_classifier -> fit). Outputs
under ``--save-dir`` (default runs/demo): checkpoints, train.log, metrics.jsonl, curves.png and
the exported symbol export/aff_resnet_digits-symbol.json + -0000.params.
"""
import os
import time

import mxnet as mx

from ..cli import add_run_flags, make_parser, run_flags, user_input
from ..training.cifar import get_recipe, train_classifier
from ..training.engine import fit
from ..training.curves import plot_curves
from ..training.run import Run, model_record


def main(argv=None):
    p = make_parser(__doc__)
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--lr', type=float, default=0.1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--fusion', default='aff', help='fusion tag of the host')
    p.add_argument('--no-progress', action='store_true')
    add_run_flags(p, save_dir_default=os.path.join('runs', 'demo'))
    args = p.parse_args(argv)
    save_dir, resume, overwrite = run_flags(args)
    Run.check(save_dir, resume, overwrite)
    from ..data import DIGIT_CLASSES, digits_datasets, digits_transforms
    from ..model_zoo import get_model
    tic = time.time()
    with user_input():
        train_set, val_set = digits_datasets(val_fraction=0.25, seed=args.seed)
        # the final recipe shortened: 1 warm-up epoch, cosine, label smoothing, no mixup
        recipe = get_recipe('final', epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            warmup_epochs=min(1, args.epochs - 1), mixup=False)
        name, kwargs = 'cifar_%s_resnet_b1' % args.fusion, {'classes': DIGIT_CLASSES}
        net = get_model(name, **kwargs)
    with Run(save_dir, resume=resume, overwrite=overwrite) as run:
        run.logger.info('data: scikit-learn digits (load_digits), 8x8 enlarged to 32x32x3: '
                        '%d train / %d val images', len(train_set), len(val_set))
        run.logger.info('labels: digits 0-9 (%d classes)', DIGIT_CLASSES)
        with user_input(except_in=(fit,)):
            result = train_classifier(
                net, train_set, val_set, recipe, run, ctx=mx.cpu(), classes=DIGIT_CLASSES,
                seed=args.seed, resume=resume, logger=run.logger, progress=not args.no_progress,
                transforms=(digits_transforms(True), digits_transforms(False)),
                checkpoint_info={'name': 'demo_%s_resnet_b1' % args.fusion, 'labels': 'digits'},
                model=model_record(name, kwargs))
        curves = plot_curves([save_dir], os.path.join(save_dir, 'curves.png'),
                             names=['%s-ResNet-20-b1 on digits' % args.fusion.upper()])
        export_prefix = os.path.join(save_dir, 'export', 'aff_resnet_digits')
        os.makedirs(os.path.dirname(export_prefix), exist_ok=True)
        net.hybridize()
        net(mx.nd.zeros((1, 3, 32, 32)))
        net.export(export_prefix)
    val_acc = result['last']['val_acc']
    print('\nfinal val accuracy %.4f (chance 0.10), best %.4f at epoch %d, %.0f s'
          % (val_acc, result['best'], result['best_epoch'] + 1, time.time() - tic))
    print('outputs in %s:' % save_dir)
    print('  checkpoints   %s/{last,best}.{params,states,json}' % save_dir)
    print('  metrics, log  %s/metrics.jsonl, %s/train.log' % (save_dir, save_dir))
    print('  curves        %s' % curves)
    print('  symbol        %s-symbol.json, %s-0000.params' % (export_prefix, export_prefix))
    gpu = ' --gpus 0' if mx.runtime.Features().is_enabled('CUDA') else ''
    print('next: real CIFAR-100 (20 super-classes, final recipe%s):\n'
          '  gluon-aff train-cifar --model cifar_aff_resnet32 --recipe final '
          '--data-dir ~/.mxnet/datasets/cifar100 --download%s'
          % ('' if gpu else '; on the CPU build of mxnet this runs on the CPU', gpu))
    return result
