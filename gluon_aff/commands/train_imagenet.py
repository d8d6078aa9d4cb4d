"""Train an AFF network on ImageNet with the original open-aff recipe (final or paper).

Examples::

    # 4 GPUs, the released models' recipe (240 epochs, float16, total batch 512, lr 0.075)
    gluon-aff train-imagenet --model aff_resnet50 --recipe final --gpus 0,1,2,3 \\
        --rec-train ~/data/imagenet/rec/train.rec --rec-train-idx ~/data/imagenet/rec/train.idx \\
        --rec-val ~/data/imagenet/rec/val.rec --rec-val-idx ~/data/imagenet/rec/val.idx \\
        --save-dir runs/aff_resnet50
    # the original's batch semantics: 128 per GPU, lr used as given
    gluon-aff train-imagenet --model aff_resnet50_paper --recipe paper --gpus 0,1 \\
        --per-device-batch --batch-size 128 ...
    # continue an interrupted run
    gluon-aff train-imagenet ... --resume runs/aff_resnet50

Distributed (parameter server): see ``docs/imagenet.md`` and ``gluon-aff launch-dist``.
Logic: ``gluon_aff/training/imagenet_run.py``; recipes: ``gluon_aff/training/imagenet.py``.
"""
import json
import os

from ..cli import (add_device_flags, add_run_flags, json_object, make_parser, run_flags,
                   user_input)
from ..data import imagenet as imagenet_data
from ..training.engine import fit
from ..training.imagenet import RECIPES
from ..training.imagenet_run import train_imagenet


def parse_args(argv=None):
    p = make_parser(__doc__)
    p.add_argument('--model', required=True, help='zoo name, e.g. aff_resnet50')
    p.add_argument('--recipe', default='final', choices=sorted(RECIPES))
    p.add_argument('--rec-dir', default=imagenet_data.DEFAULT_REC_DIR,
                   help='folder with train.rec/.idx and val.rec/.idx, for any --rec-* not given')
    p.add_argument('--rec-train'), p.add_argument('--rec-train-idx')
    p.add_argument('--rec-val'), p.add_argument('--rec-val-idx')
    p.add_argument('--data-dir', help='image folders DATA_DIR/train, DATA_DIR/val (instead of '
                   'RecordIO)')
    add_device_flags(p)
    p.add_argument('--batch-size', type=int, default=None,
                   help='TOTAL batch over all devices/workers (default 512); per device with '
                   '--per-device-batch (default 128)')
    p.add_argument('--per-device-batch', action='store_true',
                   help="the original's semantics: --batch-size per device, lr not rescaled")
    p.add_argument('--lr', type=float, default=None,
                   help='lr for a total batch of 512 (rescaled linearly to --batch-size)')
    p.add_argument('--epochs', type=int, default=None)
    p.add_argument('--warmup-epochs', type=int, default=None,
                   help='clipped to epochs - 1 for short runs')
    p.add_argument('--no-mixup', dest='mixup', action='store_false', default=None)
    p.add_argument('--mixup-alpha', type=float, default=None)
    p.add_argument('--mixup-off-epochs', type=int, default=None)
    p.add_argument('--label-smoothing', type=float, default=None, help='eta; 0 disables')
    p.add_argument('--dtype', default=None, choices=['float16', 'float32'])
    p.add_argument('--amp', action='store_true', help='mxnet.contrib.amp instead of the cast')
    p.add_argument('--kvstore', default='device',
                   help='device, dist_sync, dist_device_sync, horovod')
    p.add_argument('--update-on-kvstore', type=int, choices=[0, 1], default=None,
                   help='dist only: 1 update on the servers (MXNet default), 0 on the workers')
    p.add_argument('--input-size', type=int, default=None)
    p.add_argument('--crop-ratio', type=float, default=None)
    p.add_argument('--classes', type=int, default=1000)
    p.add_argument('--model-kwargs', type=json_object, default={},
                   help='JSON overrides of the host arguments')
    p.add_argument('-j', '--data-threads', type=int, default=4)
    p.add_argument('--save-frequency', type=int, default=10, help='keep epoch-NNNN every N')
    p.add_argument('--seed', type=int, default=None)
    p.add_argument('--no-hybridize', dest='hybridize', action='store_false')
    p.add_argument('--no-progress', dest='progress', action='store_false')
    add_run_flags(p, save_dir_help='run folder (default runs/<model>-<recipe>)')
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    save_dir, resume, overwrite = run_flags(a, os.path.join('runs', '%s-%s' % (a.model, a.recipe)))
    recs = (None,) * 4 if a.data_dir else imagenet_data.rec_paths(
        a.rec_dir, a.rec_train, a.rec_train_idx, a.rec_val, a.rec_val_idx)
    uok = None if a.update_on_kvstore is None else bool(a.update_on_kvstore)
    with user_input(except_in=(fit,)):  # the set-up checks the flags and data; fit is ours
        result = train_imagenet(
            a.model, save_dir, a.recipe, *recs,
            a.data_dir, a.gpus, a.batch_size, a.per_device_batch, a.lr, a.epochs,
            a.warmup_epochs, a.mixup, a.mixup_alpha, a.mixup_off_epochs, a.label_smoothing,
            a.dtype, a.amp, a.kvstore, uok, a.data_threads, a.input_size, a.crop_ratio,
            a.classes, a.model_kwargs, resume, a.seed, a.save_frequency, a.progress,
            a.hybridize, overwrite=overwrite)
    print(json.dumps({'best_val_top1_err': result['best'], 'best_epoch': result['best_epoch'],
                      'last': result['last']}, sort_keys=True))
    return 0
