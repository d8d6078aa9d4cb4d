"""Save StopSign prediction overlays as PNG (prediction in red over the image).

    gluon-aff predict-segmentation --run runs/fpn_aff_b1 \\
        --images ~/data/stopsign/val/images --out overlays --limit 20

Every input image is segmented at full resolution; ``OUT/<stem>.png`` holds the overlay.
"""
import os

import mxnet as mx
import numpy as np

from ..cli import (MissingInputError, add_checkpoint_flags, add_device_flags, check_image_files,
                   devices, load_from_flags, make_parser)
from ..training.segmentation import image_transform, overlay

EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


def parse_args(argv=None):
    p = make_parser(__doc__)
    add_checkpoint_flags(p)
    p.add_argument('--images', required=True, nargs='+', help='image files or folders')
    p.add_argument('--out', required=True, help='output folder for the overlays')
    p.add_argument('--limit', type=int, default=0, help='at most this many images (0: all)')
    p.add_argument('--alpha', type=float, default=0.5)
    add_device_flags(p)
    return p.parse_args(argv)


def list_images(paths):
    """Image files of ``paths`` (folders: their files with an image extension)."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += [os.path.join(path, f) for f in sorted(os.listdir(path))
                      if f.lower().endswith(EXTENSIONS)]
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise MissingInputError('no image or folder at %s' % path)
    return files


def main(argv=None):
    from PIL import Image
    args = parse_args(argv)
    ctx = devices(args)
    files = list_images(args.images)
    if args.limit:
        files = files[:args.limit]
    check_image_files(files)  # every input checked before anything is written
    net, _ = load_from_flags(args, ctx)
    transform = image_transform()
    os.makedirs(args.out, exist_ok=True)
    for path in files:
        image = np.array(Image.open(path).convert('RGB'))
        x = transform(mx.nd.array(image, dtype='uint8')).expand_dims(0).as_in_context(ctx[0])
        pred = net(x).argmax(axis=1)[0].asnumpy()
        stem = os.path.splitext(os.path.basename(path))[0]
        Image.fromarray(overlay(image, pred, alpha=args.alpha)).save(
            os.path.join(args.out, stem + '.png'))
    print('%d overlays written to %s' % (len(files), args.out))
    return 0
