#!/usr/bin/env python
"""Grad-CAM heatmaps (paper Fig. 6) of one or more zoo models, side by side.

  python scripts/gradcam.py --model add_resnet50 --params r50.params \
      --model aff_resnet50 --params aff_r50.params --out gradcam/ cat.jpg dog.jpg

Each ``--model`` takes the next ``--params`` (or ``--pretrained`` for all, looked up in
~/.mxnet/models). Writes ``<image>_gradcam.png`` (input + one overlay per model, predicted class
and softmax score in the titles) and ``<image>_<model>.png`` per model.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import mxnet as mx  # noqa: E402

from gluon_aff import get_model  # noqa: E402
from gluon_aff.gradcam import compare_models  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('images', nargs='+', help='image files')
    p.add_argument('--model', action='append', required=True, help='zoo name (repeatable)')
    p.add_argument('--params', action='append', default=[],
                   help='.params file of the preceding --model (repeatable, same order)')
    p.add_argument('--pretrained', action='store_true', help='load every model\'s zoo weights')
    p.add_argument('--random-init', action='store_true',
                   help='allow random weights (smoke tests only: the heatmaps mean nothing)')
    p.add_argument('--layer', action='append', default=[],
                   help='structural layer name per model (default: last stage)')
    p.add_argument('--classes', type=int, help='number of classes of the checkpoints')
    p.add_argument('--class-id', type=int, help='explain this class (default: predicted)')
    p.add_argument('--class-names', help='text file, one class name per line')
    p.add_argument('--out', default='gradcam', help='output directory')
    args = p.parse_args(argv)

    try:
        if args.params and len(args.params) != len(args.model):
            raise ValueError('give one --params per --model (%d models, %d params files)'
                             % (len(args.model), len(args.params)))
        if args.layer and len(args.layer) not in (1, len(args.model)):
            raise ValueError('give one --layer for all models or one per --model')
        if not (args.params or args.pretrained or args.random_init):
            raise ValueError('no weights: pass --params FILE per model or --pretrained '
                             '(--random-init only for smoke tests)')
        for path in args.params + args.images + ([args.class_names] if args.class_names else []):
            if not os.path.exists(path):
                raise FileNotFoundError('%s does not exist' % path)
        names = None
        if args.class_names:
            with open(args.class_names) as f:
                names = [line.strip() for line in f if line.strip()]
        models = []
        for i, name in enumerate(args.model):
            kwargs = {'classes': args.classes} if args.classes else {}
            net = get_model(name, pretrained=args.pretrained, **kwargs)
            if args.params:
                net.load_parameters(args.params[i], ctx=mx.cpu())
            elif not args.pretrained:
                net.initialize(mx.init.Xavier(), ctx=mx.cpu())
            layer = (args.layer[i] if len(args.layer) > 1 else args.layer[0]) if args.layer \
                else None
            models.append((name, net, layer))
        for path in compare_models(models, args.images, args.out, args.class_id, names):
            print(path)
    except (ValueError, FileNotFoundError) as err:
        p.exit(2, 'error: %s\n' % err)
    return 0


if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
