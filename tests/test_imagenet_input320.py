"""ImageNet input size 320 as the original's train_imagenet.py handled it, against hand-computed
sizes: RecordIO iterators at 320 (validation resize ceil(320 / 0.875) = 366), and the image-folder
branch for input_size >= 320 (EfficientNet-style crops, bicubic resize)."""
import random

import mxnet as mx
import numpy as np
import pytest

from gluon_aff.data import AutoAugment
from gluon_aff.data.imagenet import (folder_transforms, train_rec_iter, val_rec_iter,
                                     write_tiny_recordio)


def test_recordio_iterators_at_320(tmp_path):
    rec, idx, _ = write_tiny_recordio(str(tmp_path / 'tiny'), num_images=8, size=48)
    train = train_rec_iter(rec, idx, batch_size=4, input_size=320, num_workers=1)
    assert next(iter(train)).data[0].shape == (4, 3, 320, 320)
    val = val_rec_iter(rec, idx, batch_size=4, input_size=320, num_workers=1)
    batch = next(iter(val))
    assert batch.data[0].shape == (4, 3, 320, 320)
    # the shorter side goes to 366 first: a 320 crop of a 366-pixel image, not a plain resize
    plain = val_rec_iter(rec, idx, batch_size=4, input_size=320, resize=320, num_workers=1)
    assert not np.allclose(next(iter(plain)).data[0].asnumpy(), batch.data[0].asnumpy())


def _framed(width, height, box, inside=(200, 40, 90), outside=(10, 220, 30)):
    img = np.empty((height, width, 3), np.uint8)
    img[:] = outside
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = inside
    return img


def test_center_crop_at_320_by_hand():
    # 400 x 300 image: short side 300, crop 320 / (320 + 32) * 300 = 272.73 px, top
    # round((300 - 272.73) / 2) = 14, left round((400 - 272.73) / 2) = 64; PIL rounds the box
    # (64, 14, 336.73, 286.73) to (64, 14, 337, 287)
    inside = (200, 40, 90)
    img = _framed(400, 300, (64, 14, 337, 287), inside)
    out = folder_transforms(False, 320)[0](mx.nd.array(img, dtype='uint8'))
    assert out.shape == (320, 320, 3) and out.dtype == np.uint8
    assert (out.asnumpy() == inside).all()          # nothing of the frame got in
    for box in ((65, 14, 337, 287), (64, 15, 337, 287), (64, 14, 336, 287), (64, 14, 337, 286)):
        shrunk = folder_transforms(False, 320)[0](mx.nd.array(_framed(400, 300, box, inside),
                                                              dtype='uint8'))
        assert not (shrunk.asnumpy() == inside).all(), box
    full = folder_transforms(False, 320)(mx.nd.array(img, dtype='uint8'))
    assert full.shape == (3, 320, 320) and full.dtype == np.float32


def test_random_crop_at_320():
    steps = folder_transforms(True, 320)
    img = mx.nd.array(np.random.RandomState(0).randint(0, 256, (375, 500, 3)), dtype='uint8')
    crops = set()
    for seed in range(6):
        random.seed(seed)
        mx.random.seed(seed)
        out = steps[0](img)
        assert out.shape == (320, 320, 3)
        crops.add(out.asnumpy().tobytes())
        assert steps(img).shape == (3, 320, 320)
    assert len(crops) == 6                            # the crop is drawn (Python's random)


def test_below_320_keeps_the_inception_crops():
    val = folder_transforms(False, 224)
    assert [type(val[i]).__name__ for i in (0, 1)] == ['Resize', 'CenterCrop']
    assert val[0]._size == 256                        # ceil(224 / 0.875)
    out = val(mx.nd.array(np.zeros((300, 400, 3), np.uint8), dtype='uint8'))
    assert out.shape == (3, 224, 224)
    assert type(folder_transforms(True, 224)[0]).__name__ == 'RandomResizedCrop'


def test_auto_augment_on_the_folder_path():
    steps = folder_transforms(True, 320, auto_augment=True)
    assert isinstance(steps[0], AutoAugment) and steps[0].policy_name == 'imagenet'
    assert not isinstance(folder_transforms(True, 224)[0], AutoAugment)
    with pytest.raises(ValueError, match='training transform'):
        folder_transforms(False, 320, auto_augment=True)
