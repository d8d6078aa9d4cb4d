"""Single-crop top-1 / top-5 error of an ImageNet checkpoint on the validation RecordIO.

Examples::

    gluon-aff eval-imagenet --run runs/aff_resnet50 --gpus 0 \\
        --rec-val ~/data/imagenet/rec/val.rec --rec-val-idx ~/data/imagenet/rec/val.idx
    # an original open-aff checkpoint (same parameter names), 320 crop from a 366 resize
    gluon-aff eval-imagenet --model aff_resnet50 \\
        --params 0.2028-imagenet-ASKCFuse-resnet--50-s-3-best.params --input-size 320 ...

Default: shorter side resized to 256, center crop 224 (``--crop-ratio 0.875``); ``--resize``
sets the shorter side directly. Logic: ``gluon_aff/training/imagenet_run.py``.
"""
import json
import os

from ..cli import (add_checkpoint_flags, add_device_flags, checkpoint_source, make_parser,
                   user_input)
from ..data import imagenet as imagenet_data
from ..training.imagenet_run import evaluate_imagenet


def parse_args(argv=None):
    p = make_parser(__doc__)
    add_checkpoint_flags(p)
    p.add_argument('--rec-dir', default=imagenet_data.DEFAULT_REC_DIR,
                   help='folder with val.rec/.idx, for --rec-val/--rec-val-idx not given')
    p.add_argument('--rec-val')
    p.add_argument('--rec-val-idx')
    add_device_flags(p)
    p.add_argument('--batch-size', type=int, default=100, help='per device')
    p.add_argument('--input-size', type=int, default=224)
    p.add_argument('--crop-ratio', type=float, default=0.875)
    p.add_argument('--resize', type=int, default=None, help='shorter side before the crop')
    p.add_argument('--dtype', default='float32', choices=['float16', 'float32'])
    p.add_argument('--classes', type=int, default=None,
                   help='head size of a bare --params file (default: the model\'s, 1000)')
    p.add_argument('-j', '--data-threads', type=int, default=4)
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    source = checkpoint_source(a)
    rec_dir = os.path.expanduser(a.rec_dir)
    rec_val = a.rec_val or os.path.join(rec_dir, 'val.rec')
    rec_val_idx = a.rec_val_idx or os.path.join(rec_dir, 'val.idx')
    with user_input():
        imagenet_data.check_record_file(rec_val, rec_val_idx)
    res = evaluate_imagenet(a.model, source, rec_val, rec_val_idx, a.gpus,
                            a.batch_size, a.input_size, a.crop_ratio, a.resize, a.dtype,
                            a.classes, a.model_kwargs, a.data_threads)
    print('top-1 error %.4f  top-5 error %.4f  (%d images)'
          % (res['top1_err'], res['top5_err'], res['num_samples']))
    print(json.dumps(res, sort_keys=True))
    return 0
