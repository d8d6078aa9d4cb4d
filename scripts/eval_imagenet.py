"""Single-crop top-1 / top-5 error of an ImageNet checkpoint on the validation RecordIO.

Examples::

    python scripts/eval_imagenet.py --model aff_resnet50 --params runs/aff_resnet50 \
        --rec-val ~/data/imagenet/rec/val.rec --rec-val-idx ~/data/imagenet/rec/val.idx --gpus 0
    # an original open-aff checkpoint (same parameter names), 320 crop from a 366 resize
    python scripts/eval_imagenet.py --model aff_resnet50 \
        --params 0.2028-imagenet-ASKCFuse-resnet--50-s-3-best.params --input-size 320 ...

Default: shorter side resized to 256, center crop 224 (``--crop-ratio 0.875``); ``--resize``
sets the shorter side directly. Logic: ``gluon_aff/training/imagenet_run.py``.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from gluon_aff.cli import json_object  # noqa: E402
from gluon_aff.data import imagenet as imagenet_data  # noqa: E402
from gluon_aff.training.imagenet_run import evaluate_imagenet  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--model', required=True, help='zoo name, e.g. aff_resnet50')
    p.add_argument('--params', required=True,
                   help='.params file, checkpoint prefix or run directory (best.params)')
    p.add_argument('--rec-dir', default=imagenet_data.DEFAULT_REC_DIR,
                   help='folder with val.rec/.idx, for --rec-val/--rec-val-idx not given')
    p.add_argument('--rec-val')
    p.add_argument('--rec-val-idx')
    p.add_argument('--gpus', default='')
    p.add_argument('--batch-size', type=int, default=100, help='per device')
    p.add_argument('--input-size', type=int, default=224)
    p.add_argument('--crop-ratio', type=float, default=0.875)
    p.add_argument('--resize', type=int, default=None, help='shorter side before the crop')
    p.add_argument('--dtype', default='float32', choices=['float16', 'float32'])
    p.add_argument('--classes', type=int, default=1000)
    p.add_argument('--model-kwargs', type=json_object, default={},
                   help='JSON overrides of the host arguments')
    p.add_argument('-j', '--data-threads', type=int, default=4)
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    model_kwargs = a.model_kwargs
    rec_dir = os.path.expanduser(a.rec_dir)
    rec_val = a.rec_val or os.path.join(rec_dir, 'val.rec')
    rec_val_idx = a.rec_val_idx or os.path.join(rec_dir, 'val.idx')
    res = evaluate_imagenet(a.model, a.params, rec_val, rec_val_idx, a.gpus, a.batch_size,
                            a.input_size, a.crop_ratio, a.resize, a.dtype, a.classes,
                            model_kwargs, a.data_threads)
    print('top-1 error %.4f  top-5 error %.4f  (%d images)'
          % (res['top1_err'], res['top5_err'], res['num_samples']))
    print(json.dumps(res, sort_keys=True))
    return 0


if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
