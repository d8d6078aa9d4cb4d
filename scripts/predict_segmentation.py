"""Save StopSign prediction overlays as PNG (prediction in red over the image).

    python scripts/predict_segmentation.py --checkpoint runs/fpn_aff_b1/best \
        --images ~/data/stopsign/val/images --out overlays --limit 20

Every input image is segmented at full resolution; ``OUT/<stem>.png`` holds the overlay.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gluon_aff.training.segmentation import (image_transform, load_segmentation_net,  # noqa
                                             overlay)

EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--checkpoint', required=True, help='checkpoint prefix, e.g. RUN/best')
    p.add_argument('--images', required=True, nargs='+', help='image files or folders')
    p.add_argument('--out', required=True, help='output folder for the overlays')
    p.add_argument('--limit', type=int, default=0, help='at most this many images (0: all)')
    p.add_argument('--alpha', type=float, default=0.5)
    p.add_argument('--gpu', type=int, default=-1, help='GPU id; -1 = CPU')
    return p.parse_args(argv)


def list_images(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += [os.path.join(path, f) for f in sorted(os.listdir(path))
                      if f.lower().endswith(EXTENSIONS)]
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError('no image or folder at %s' % path)
    return files


def main(argv=None):
    args = parse_args(argv)
    ctx = mx.gpu(args.gpu) if args.gpu >= 0 else mx.cpu()
    net = load_segmentation_net(args.checkpoint, ctx)
    files = list_images(args.images)
    if args.limit:
        files = files[:args.limit]
    os.makedirs(args.out, exist_ok=True)
    transform = image_transform()
    for path in files:
        image = np.array(Image.open(path).convert('RGB'))
        x = transform(mx.nd.array(image, dtype='uint8')).expand_dims(0).as_in_context(ctx)
        pred = net(x).argmax(axis=1)[0].asnumpy()
        stem = os.path.splitext(os.path.basename(path))[0]
        Image.fromarray(overlay(image, pred, alpha=args.alpha)).save(
            os.path.join(args.out, stem + '.png'))
    print('%d overlays written to %s' % (len(files), args.out))
    return 0


if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
