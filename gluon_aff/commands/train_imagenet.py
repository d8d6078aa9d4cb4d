"""Train an AFF network on ImageNet with the original open-aff recipe (final or paper).

Examples::

    # 4 GPUs, the released models' recipe (240 epochs, float16, total batch 512, lr 0.075)
    gluon-aff train-imagenet --recipe openaff-aff-resnet50 --gpus 0,1,2,3 \\
        --rec-train ~/data/imagenet/rec/train.rec --rec-train-idx ~/data/imagenet/rec/train.idx \\
        --rec-val ~/data/imagenet/rec/val.rec --rec-val-idx ~/data/imagenet/rec/val.idx \\
        --save-dir runs/aff_resnet50
    # the paper-version run of Table 5 (2 GPUs x 120, 160 epochs, mixup never off)
    gluon-aff train-imagenet --recipe paper-aff-resnet50 --gpus 0,1 ...
    # the original's batch semantics: 128 per GPU, lr used as given
    gluon-aff train-imagenet --model aff_resnet50 --gpus 0,1 --per-device-batch --batch-size 128
    # continue an interrupted run
    gluon-aff train-imagenet ... --resume runs/aff_resnet50

Distributed (parameter server): see ``docs/imagenet.md`` and ``gluon-aff launch-dist``.
Logic: ``gluon_aff/training/imagenet_run.py``; recipes: ``gluon_aff/training/recipe.py`` (every
recipe value is a flag, generated from its fields).
"""
import json
import os

from ..cli import (UserError, add_device_flags, add_run_flags, json_object, make_parser,
                   run_flags, user_input)
from ..data import imagenet as imagenet_data
from ..training.engine import fit
from ..training.imagenet_run import train_imagenet
from ..training.recipe import add_recipe_flags, find_preset, recipe_from_args, require_warm_start
from .train_cifar import add_host_flags, host_kwargs

#: the original train_imagenet.py's host options -> the zoo's keyword arguments
HOST_FLAGS = (('--num-layer', 'depth', int, "the original's --num-layer: 50, 101 ([3, 4, 23, "
               '3]) or 152 (its [3, 4, 36, 3])'),
              ('--start-layer', 'start_layer', int, "the original's --start-layer: stages "
               'before it add instead of fusing (default 3)'))


def parse_args(argv=None):
    p = make_parser(__doc__)
    g = p.add_argument_group('model')
    g.add_argument('--model', help="zoo name, e.g. aff_resnet50 (default: the recipe's model "
                   'when it names one)')
    g.add_argument('--classes', type=int, default=1000)
    add_host_flags(g, HOST_FLAGS)
    g.add_argument('--model-kwargs', type=json_object, default={},
                   help='JSON overrides of the host arguments')
    g = p.add_argument_group('data')
    g.add_argument('--rec-dir', default=imagenet_data.DEFAULT_REC_DIR,
                   help='folder with train.rec/.idx and val.rec/.idx, for any --rec-* not given')
    g.add_argument('--rec-train'), g.add_argument('--rec-train-idx')
    g.add_argument('--rec-val'), g.add_argument('--rec-val-idx')
    g.add_argument('--data-dir', help='image folders DATA_DIR/train, DATA_DIR/val (instead of '
                   'RecordIO)')
    g.add_argument('-j', '--data-threads', type=int, default=4)
    add_recipe_flags(p, 'imagenet')
    g = p.add_argument_group('run')
    add_device_flags(g)
    g.add_argument('--kvstore', default='device',
                   help='device, dist_sync, dist_device_sync, horovod')
    g.add_argument('--update-on-kvstore', type=int, choices=[0, 1], default=None,
                   help='dist only: 1 update on the servers (MXNet default), 0 on the workers')
    g.add_argument('--save-frequency', type=int, default=10, help='keep epoch-NNNN every N')
    g.add_argument('--seed', type=int, default=None)
    g.add_argument('--no-hybridize', dest='hybridize', action='store_false')
    g.add_argument('--no-progress', dest='progress', action='store_false')
    add_run_flags(p, save_dir_help='run folder (default runs/<model>-<recipe>)')
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    with user_input():
        preset, stage = find_preset(a.recipe, 'imagenet')
        recipe = recipe_from_args(a, 'imagenet')
        require_warm_start(preset, stage, recipe, a.resume)
    model = a.model or preset.model
    if not model:
        raise UserError('--recipe %s is for any ImageNet model: give --model NAME (e.g. '
                        'aff_resnet50)' % a.recipe)
    save_dir, resume, overwrite = run_flags(a, os.path.join(
        'runs', '%s-%s' % (model, a.recipe.replace(':', '-stage'))))
    recs = (None,) * 4 if a.data_dir else imagenet_data.rec_paths(
        a.rec_dir, a.rec_train, a.rec_train_idx, a.rec_val, a.rec_val_idx)
    uok = None if a.update_on_kvstore is None else bool(a.update_on_kvstore)
    with user_input(except_in=(fit,)):  # the set-up checks the flags and data; fit is ours
        result = train_imagenet(
            model, save_dir, recipe, *recs, data_dir=a.data_dir, gpus=a.gpus, kvstore=a.kvstore,
            update_on_kvstore=uok, data_threads=a.data_threads, classes=a.classes,
            model_kwargs=host_kwargs(a, HOST_FLAGS), resume=resume, seed=a.seed,
            save_frequency=a.save_frequency, progress=a.progress, hybridize=a.hybridize,
            overwrite=overwrite)
    print(json.dumps({'best_val_top1_err': result['best'], 'best_epoch': result['best_epoch'],
                      'last': result['last']}, sort_keys=True))
    return 0
