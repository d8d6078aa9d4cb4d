"""Train an AFF network on CIFAR-100 (20 super-classes by default) with the final or paper recipe.

Examples::

    gluon-aff train-cifar --model cifar_aff_resnet32 --recipe final --data-dir ~/data/cifar100
    gluon-aff train-cifar --host resnet --fusion iaff --blocks 2 --version paper \\
        --recipe paper --labels coarse --gpus 0 --save-dir runs/iaff_b2
    gluon-aff train-cifar --resume runs/iaff_b2          # continue an interrupted run

(``python scripts/train_cifar.py`` takes the same flags.) Every value of the recipe can be
overridden; see ``gluon_aff/training/cifar.py`` and ``docs/training_cifar.md``.
"""
import contextlib
import io
import os
import sys

from ..cli import (UserError, add_device_flags, add_run_flags, devices, make_parser, run_flags,
                   user_input)
from ..data import CIFAR100, download_cifar100, num_label_classes
from ..model_zoo import get_model
from ..training.checkpoint import read_state
from ..training.engine import fit
from ..training.cifar import (INITIALIZERS, RECIPES, cifar_model_spec, get_recipe,
                              total_batch_size, train_classifier)
from ..training.run import Run, model_card, model_record

RECIPE_FLAGS = ('epochs', 'batch_size', 'per_device_batch', 'lr', 'momentum', 'wd', 'no_wd',
                'lr_mode', 'warmup_epochs', 'warmup_lr', 'lr_decay', 'lr_decay_epochs', 'mixup',
                'mixup_alpha', 'mixup_off_epochs', 'label_smoothing', 'init')
#: flags that name the run folder: not replayed from a saved command line
RUN_FOLDER_FLAGS = {'--save-dir': 1, '--resume': '?', '--overwrite': 0}


def parse_args(argv=None):
    p = make_parser(__doc__)
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
                   help='no weight decay on BN gamma/beta and biases (final recipe)')
    g.add_argument('--wd-all', dest='no_wd', action='store_false',
                   help='decay every parameter (paper recipe)')
    g.add_argument('--lr-mode', choices=['cosine', 'step'])
    g.add_argument('--warmup-epochs', type=int, help='clipped to epochs - 1 for short runs')
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
    add_device_flags(g)
    g.add_argument('--no-hybridize', action='store_true')
    g.add_argument('--amp', nargs='?', const='float16', choices=['float16', 'bfloat16'],
                   default=None, help='mixed precision with mxnet.contrib.amp: float16 (GPUs; '
                   'bare --amp, as in train-imagenet) or bfloat16 (CPUs with avx512_bf16)')
    g.add_argument('--no-progress', action='store_true', help='no tqdm bar')
    add_run_flags(p, save_dir_help='run folder (default runs/<model>-<labels>-<recipe>)')
    return p.parse_args(argv)


def _run_name(args):
    return args.model or 'cifar_%s_%s_b%s_%s' % (args.fusion, args.host, args.blocks or 'default',
                                                 args.version)


def without_flags(argv, flags):
    """``argv`` without the ``flags`` (``{flag: number of values, '?' optional}``)."""
    out, i = [], 0
    while i < len(argv):
        flag = argv[i].split('=', 1)[0]
        if flag not in flags:
            out.append(argv[i])
            i += 1
            continue
        takes = flags[flag]
        i += 1
        if '=' not in argv[i - 1]:
            if takes == '?':
                i += 1 if i < len(argv) and not argv[i].startswith('-') else 0
            else:
                i += takes
    return out


def download(data_dir):
    """Fetch CIFAR-100 into ``data_dir``; a failed download is one :class:`UserError` line."""
    sys.stderr.write('downloading CIFAR-100 into %s ...\n' % data_dir)
    chatter = io.StringIO()  # gluon's downloader prints every retry with its exception
    try:
        with contextlib.redirect_stdout(chatter):
            download_cifar100(data_dir)
    except (OSError, RuntimeError, UserWarning) as err:
        raise UserError('cannot download CIFAR-100 into %s (%s): check the network, or copy '
                        'cifar-100-python.tar.gz there by hand and leave out --download'
                        % (data_dir, type(err).__name__)) from err


def main(argv=None):
    cli = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(cli)
    save_dir, resume, overwrite = run_flags(
        args, os.path.join('runs', '%s-%s-%s' % (_run_name(args), args.labels, args.recipe)))
    Run.check(save_dir, resume, overwrite)
    run_argv = without_flags(cli, RUN_FOLDER_FLAGS)
    if resume:  # the saved command line, with the flags given now winning
        saved = read_state(os.path.join(save_dir, 'last')).get('info', {}).get('argv')
        if saved is None:
            raise UserError('%s/last.json holds no command line (info.argv): it was not written '
                            'by train-cifar' % save_dir)
        run_argv = without_flags(saved, RUN_FOLDER_FLAGS)
        args = parse_args(run_argv + cli)
    ctx = devices(args)
    with user_input():
        if args.classes < num_label_classes(args.labels):
            raise UserError('--classes %d is smaller than the %d %s labels'
                            % (args.classes, num_label_classes(args.labels), args.labels))
        recipe = get_recipe(args.recipe, **{k: getattr(args, k) for k in RECIPE_FLAGS})
        total_batch_size(recipe.batch_size, len(ctx), recipe.per_device_batch)
        name, kwargs = cifar_model_spec(args.model, args.host, args.fusion, args.blocks,
                                        args.version, args.classes)
    card = model_card(name)
    if card['dataset'] != 'cifar100':
        raise UserError('%s is a %s model for %s (%dx%d input); train-cifar trains the 32x32 '
                        'CIFAR-100 networks (cifar_* names of gluon_aff.get_model_list()): use %s'
                        % (name, card['task'], card['dataset'], card['input_size'][0],
                           card['input_size'][1], 'train-segmentation' if
                           card['task'] == 'segmentation' else 'train-imagenet'))
    with user_input():
        net = get_model(name, **kwargs)
    if args.download:
        download(os.path.expanduser(args.data_dir))
    with user_input():
        train_set = CIFAR100(args.data_dir, train=True, labels=args.labels)
        val_set = CIFAR100(args.data_dir, train=False, labels=args.labels)
    info = {'argv': run_argv, 'name': _run_name(args), 'labels': args.labels,
            'data_dir': args.data_dir}
    with Run(save_dir, resume=resume, overwrite=overwrite) as run:
        kind, where = train_set.source
        run.logger.info('data: CIFAR-100, %s format, read from %s: %d training / %d test '
                        'images', kind, where, len(train_set), len(val_set))
        run.logger.info('labels: %s (%d classes)', args.labels, train_set.classes)
        run.logger.info('model: %s %s', name, kwargs)
        with user_input(except_in=(fit,)):  # the set-up checks sizes; fit's errors are ours
            result = train_classifier(
                net, train_set, val_set, recipe, run, ctx=ctx, classes=args.classes,
                seed=args.seed, resume=resume, num_workers=args.num_workers,
                checkpoint_info=info, hybridize=not args.no_hybridize, logger=run.logger,
                progress=not args.no_progress, model=model_record(name, kwargs), amp=args.amp)
        run.logger.info('done: best val_acc %s at epoch %s; outputs in %s', result['best'],
                        result['best_epoch'], save_dir)
    return result
