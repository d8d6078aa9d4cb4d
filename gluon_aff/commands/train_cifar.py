"""Train an AFF network on CIFAR-100 (20 super-classes by default) or CIFAR-10 with a recipe.

Examples::

    gluon-aff train-cifar --model cifar_aff_resnet32 --recipe final --data-dir ~/data/cifar100
    gluon-aff train-cifar --recipe openaff-aff-resnet32:1 --save-dir runs/r32-1   # released chain
    gluon-aff train-cifar --recipe openaff-aff-resnet32:2 --init-from runs/r32-1 \\
        --save-dir runs/r32-2
    gluon-aff train-cifar --host resnet --fusion iaff --blocks 2 --version paper \\
        --recipe paper --labels coarse --gpus 0 --save-dir runs/iaff_b2
    gluon-aff train-cifar --resume runs/iaff_b2          # continue an interrupted run

(``python scripts/train_cifar.py`` takes the same flags.) Every value of the recipe is a flag
(generated from gluon_aff.training.recipe.Recipe); see ``docs/training_cifar.md``.
"""
import contextlib
import io
import os
import sys

from ..cli import (UserError, add_device_flags, add_run_flags, devices, json_object,
                   make_parser, run_flags, user_input)
from ..data import CIFAR10, CIFAR100, download_cifar10, download_cifar100, num_label_classes
from ..model_zoo import get_model
from ..training.checkpoint import read_state
from ..training.engine import fit
from ..training.cifar import cifar_model_spec, train_classifier
from ..training.recipe import (add_recipe_flags, find_preset, recipe_from_args,
                               require_warm_start)
from ..training.run import Run, model_card, model_record

#: flags that name the run folder: not replayed from a saved command line
RUN_FOLDER_FLAGS = {'--save-dir': 1, '--resume': '?', '--overwrite': 0}
#: the original's CIFAR host options (train_cifar.py) -> the zoo's keyword arguments
HOST_FLAGS = (('--channel-times', 'channel_times', int, "the original's --channel-times: widths "
               '16t-16t-32t-64t (ResNet), stem 16t (ResNeXt)'),
              ('--start-layer', 'start_layer', int, "the original's --start-layer: stages "
               'before it add instead of fusing (4: no fusion)'),
              ('--deep-stem', 'deep_stem', bool, "the original's --deep-stem: three 3x3 "
               'convolutions as the stem'))
DATASETS = {'cifar100': (CIFAR100, download_cifar100, 'CIFAR-100'),
            'cifar10': (CIFAR10, download_cifar10, 'CIFAR-10')}


def add_host_flags(group, flags=HOST_FLAGS):
    """``--channel-times``, ``--start-layer``, ``--deep-stem`` (default: the zoo model's)."""
    for flag, dest, kind, text in flags:
        if kind is bool:
            group.add_argument(flag, dest=dest, action='store_true', default=None, help=text)
        else:
            group.add_argument(flag, dest=dest, type=kind, default=None, help=text)


def host_kwargs(args, flags=HOST_FLAGS):
    """The zoo keyword arguments of the host flags given."""
    kwargs = dict(getattr(args, 'model_kwargs', None) or {})
    kwargs.update((dest, getattr(args, dest)) for _, dest, _, _ in flags
                  if getattr(args, dest) is not None)
    return kwargs


def parse_args(argv=None):
    p = make_parser(__doc__)
    g = p.add_argument_group('model')
    g.add_argument('--model', help='a CIFAR zoo name, e.g. cifar_aff_resnet32 (default: the '
                   "recipe's model when it names one)")
    g.add_argument('--host', choices=['resnet', 'resnext'], help='host when --model is not given')
    g.add_argument('--fusion', default='aff', help='fusion tag (with --host)')
    g.add_argument('--blocks', type=int, help='blocks per stage (with --host; 5 resnet, 4 resnext)')
    g.add_argument('--version', choices=['final', 'paper'], default='final',
                   help='host version (with --host)')
    g.add_argument('--classes', type=int,
                   help='head size (default: 100) as the original for CIFAR-100, even for '
                        '--labels coarse; 10 for --dataset cifar10')
    add_host_flags(g)
    g.add_argument('--model-kwargs', type=json_object, default=None, metavar='JSON',
                   help='other constructor arguments of the zoo model, e.g. \'{"r": 8}\'')
    g = p.add_argument_group('data')
    g.add_argument('--dataset', choices=sorted(DATASETS), default='cifar100',
                   help="the original's --dataset (CIFAR-10: 10-way head)")
    g.add_argument('--labels', choices=['coarse', 'fine'],
                   help='CIFAR-100: 20 super-classes (paper, default) or 100 fine classes '
                        "(default: the recipe's, else coarse)")
    g.add_argument('--data-dir', help='folder with the python or binary archive, extracted or '
                   'not (default ~/.mxnet/datasets/<dataset>)')
    g.add_argument('--download', action='store_true', help="fetch the data with gluon's downloader")
    g.add_argument('-j', '--num-workers', type=int, default=4, help='data loader processes')
    add_recipe_flags(p, 'cifar')
    g = p.add_argument_group('run')
    g.add_argument('--seed', type=int, default=0)
    add_device_flags(g)
    g.add_argument('--no-hybridize', action='store_true')
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


def download(data_dir, dataset='cifar100'):
    """Fetch the data set into ``data_dir``; a failed download is one :class:`UserError` line."""
    _, fetch, title = DATASETS[dataset]
    sys.stderr.write('downloading %s into %s ...\n' % (title, data_dir))
    chatter = io.StringIO()  # gluon's downloader prints every retry with its exception
    try:
        with contextlib.redirect_stdout(chatter):
            fetch(data_dir)
    except (OSError, RuntimeError, UserWarning) as err:
        archive = dataset.replace('cifar', 'cifar-') + '-python.tar.gz'
        raise UserError('cannot download %s into %s (%s): check the network, or copy %s there '
                        'by hand and leave out --download'
                        % (title, data_dir, type(err).__name__, archive)) from err


def resolve(args, saved=None, given=None):
    """``(recipe, preset, zoo name, kwargs, labels)`` of the parsed flags (checked). A resumed
    run passes its checkpoint's recipe (``saved``) and the flags given now (``given``): its own
    values win over the preset's, the flags given now over both."""
    preset, stage = find_preset(args.recipe, 'cifar')
    recipe = recipe_from_args(given or args, 'cifar', saved)
    require_warm_start(preset, stage, recipe, args.resume)
    cifar10 = args.dataset == 'cifar10'
    if cifar10 and args.labels:
        raise UserError('--labels is for CIFAR-100; CIFAR-10 has one label set (10 classes)')
    labels = None if cifar10 else args.labels or preset.labels or 'coarse'
    classes = args.classes or (10 if cifar10 else 100)
    if not cifar10 and classes < num_label_classes(labels):
        raise UserError('--classes %d is smaller than the %d %s labels'
                        % (classes, num_label_classes(labels), labels))
    if cifar10 and classes < 10:
        raise UserError('--classes %d is smaller than the 10 CIFAR-10 classes' % classes)
    model = args.model or (preset.model if args.host is None else None)
    name, kwargs = cifar_model_spec(model, args.host, args.fusion, args.blocks, args.version,
                                    classes)
    kwargs.update(host_kwargs(args))
    return recipe, preset, name, kwargs, labels


def main(argv=None):
    cli = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(cli)
    default_dir = os.path.join('runs', '%s-%s-%s' % (
        args.model or _run_name(args), args.labels or args.dataset,
        args.recipe.replace(':', '-stage')))
    save_dir, resume, overwrite = run_flags(args, default_dir)
    Run.check(save_dir, resume, overwrite)
    run_argv = without_flags(cli, RUN_FOLDER_FLAGS)
    saved_recipe = given = None
    if resume:  # the saved command line and recipe, with the flags given now winning
        info = read_state(os.path.join(save_dir, 'last')).get('info', {})
        if info.get('argv') is None:
            raise UserError('%s/last.json holds no command line (info.argv): it was not written '
                            'by train-cifar' % save_dir)
        run_argv = without_flags(info['argv'], RUN_FOLDER_FLAGS)
        saved_recipe, given = info.get('recipe'), args
        args = parse_args(run_argv + cli)
    ctx = devices(args)
    with user_input():
        recipe, preset, name, kwargs, labels = resolve(args, saved_recipe, given)
        recipe.total_batch(len(ctx))
    card = model_card(name)
    if card['dataset'] != 'cifar100':
        raise UserError('%s is a %s model for %s (%dx%d input); train-cifar trains the 32x32 '
                        'CIFAR networks (cifar_* names of gluon_aff.get_model_list()): use %s'
                        % (name, card['task'], card['dataset'], card['input_size'][0],
                           card['input_size'][1], 'train-segmentation' if
                           card['task'] == 'segmentation' else 'train-imagenet'))
    if preset.model and name != preset.model:
        import warnings
        from ..errors import UserNotice
        warnings.warn('recipe %s was logged for %s; training %s with it'
                      % (args.recipe, preset.model, name), UserNotice)
    with user_input():
        try:
            net = get_model(name, **kwargs)
        except TypeError as err:
            raise UserError('%s cannot be built with %s: %s' % (name, kwargs, err)) from None
    data_cls, _, title = DATASETS[args.dataset]
    data_dir = args.data_dir or os.path.join('~', '.mxnet', 'datasets', args.dataset)
    if args.download:
        download(os.path.expanduser(data_dir), args.dataset)
    with user_input():
        extra = {} if labels is None else {'labels': labels}
        train_set = data_cls(data_dir, train=True, **extra)
        val_set = data_cls(data_dir, train=False, **extra)
    info = {'argv': run_argv, 'name': _run_name(args), 'labels': labels or 'class',
            'dataset': args.dataset, 'data_dir': data_dir}
    with Run(save_dir, resume=resume, overwrite=overwrite) as run:
        kind, where = train_set.source
        run.logger.info('data: %s, %s format, read from %s: %d training / %d test images',
                        title, kind, where, len(train_set), len(val_set))
        run.logger.info('labels: %s (%d classes)', labels or 'class', train_set.classes)
        run.logger.info('model: %s %s', name, kwargs)
        with user_input(except_in=(fit,)):  # the set-up checks sizes; fit's errors are ours
            result = train_classifier(
                net, train_set, val_set, recipe, run, ctx=ctx, classes=kwargs.get('classes', 100),
                seed=args.seed, resume=resume, num_workers=args.num_workers,
                checkpoint_info=info, hybridize=not args.no_hybridize, logger=run.logger,
                progress=not args.no_progress, model=model_record(name, kwargs))
        run.logger.info('done: best val_acc %s at epoch %s; outputs in %s', result['best'],
                        result['best_epoch'], save_dir)
    return result
