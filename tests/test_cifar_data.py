"""CIFAR-100 loader on archives written in the real formats by ``cifar_archives``."""
import os

import numpy as np
import pytest

from cifar_archives import write_binary_archive, write_python_archive
from gluon_aff.data import CIFAR100, load_cifar100, digits_datasets, load_digits_32
from helpers import requires


@pytest.mark.parametrize('writer', [write_python_archive, write_binary_archive])
@pytest.mark.parametrize('extract', [False, True])
def test_loader_reads_both_formats(tmp_path, writer, extract):
    splits = writer(str(tmp_path), extract=extract)
    for train, split in ((True, 'train'), (False, 'test')):
        images, fine, coarse = splits[split]
        got, labels, _ = load_cifar100(str(tmp_path), train=train, labels='coarse')
        assert got.shape == images.shape and got.dtype == np.uint8
        np.testing.assert_array_equal(got, images)
        np.testing.assert_array_equal(labels, coarse)
        _, labels, _ = load_cifar100(str(tmp_path), train=train, labels='fine')
        np.testing.assert_array_equal(labels, fine)


def test_dataset_items_and_names(tmp_path):
    images, fine, coarse = write_python_archive(str(tmp_path))['test']
    ds = CIFAR100(str(tmp_path), train=False, labels='coarse')
    assert len(ds) == 32 and ds.classes == 20 and ds.label_names[3] == 'c3'
    img, label = ds[5]
    np.testing.assert_array_equal(img.asnumpy(), images[5])
    assert label == coarse[5]
    assert CIFAR100(str(tmp_path), train=False, labels='fine').label_names[7] == 'f7'


def test_missing_dir_says_where_to_put_the_archive(tmp_path):
    for folder in (tmp_path / 'nowhere', tmp_path):
        with pytest.raises(FileNotFoundError) as err:
            load_cifar100(str(folder))
        assert str(folder) in str(err.value) and 'cifar-100-python.tar.gz' in str(err.value) \
            and '--download' in str(err.value)


def test_corrupt_archives_are_named(tmp_path):
    path = tmp_path / 'cifar-100-python.tar.gz'
    path.write_bytes(b'\x1f\x8b this is not a gzip stream')
    with pytest.raises(ValueError, match='corrupt CIFAR-100 data .*cifar-100-python.tar.gz'):
        load_cifar100(str(tmp_path))
    os.remove(str(path))
    write_binary_archive(str(tmp_path), extract=True)
    with open(str(tmp_path / 'train.bin'), 'ab') as f:
        f.write(b'\x00' * 10)                     # a truncated / padded record
    with pytest.raises(ValueError, match='train.bin.*multiple of the 3074-byte record'):
        load_cifar100(str(tmp_path), train=True)
    other = tmp_path / 'py'
    write_python_archive(str(other), extract=True)
    (other / 'cifar-100-python' / 'test').write_bytes(b'garbage')
    with pytest.raises(ValueError, match='corrupt CIFAR-100 data .*test.*cannot read the pickle'):
        load_cifar100(str(other), train=False)


def test_unknown_label_set(tmp_path):
    write_python_archive(str(tmp_path))
    with pytest.raises(ValueError, match="'coarse'.*'fine'.*got 'super'"):
        load_cifar100(str(tmp_path), labels='super')


def test_digits_are_resized_by_repetition():
    raw = requires('sklearn.datasets', 'the digits demo data').load_digits()
    images, labels = load_digits_32()
    assert images.shape == (1797, 32, 32, 3) and images.dtype == np.uint8
    expected = np.round(raw.images[10] * 255.0 / 16.0)
    np.testing.assert_array_equal(images[10, ::4, ::4, 1], expected)
    np.testing.assert_array_equal(images[10, 3::4, 3::4, 2], expected)
    np.testing.assert_array_equal(labels, raw.target)
    train, val = digits_datasets(val_fraction=0.25, seed=0)
    assert len(train) + len(val) == 1797 and abs(len(val) - 450) <= 1


# The original's CIFAR transforms (open-aff train_cifar.py, both versions), typed by hand:
# gcv_transforms.RandomCrop(32, pad=4), RandomFlipLeftRight, ToTensor,
# Normalize([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]).
ORIGINAL_MEAN, ORIGINAL_STD, ORIGINAL_PAD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010), 4


def _position_image():
    """32x32 image whose red/green values encode the row/column and blue marks real pixels."""
    rows, cols = np.mgrid[0:32, 0:32]
    return np.stack([rows * 8, cols * 8, np.full((32, 32), 255)], axis=-1).astype(np.uint8)


def _undo(tensor):
    """Pixel values back from a normalised CHW tensor, with the original's constants."""
    chw = tensor.asnumpy().astype(np.float64)
    mean = np.array(ORIGINAL_MEAN)[:, None, None]
    std = np.array(ORIGINAL_STD)[:, None, None]
    return np.round((chw * std + mean) * 255).transpose(1, 2, 0)


def test_cifar_transforms_are_the_originals():
    import random
    import mxnet as mx
    from gluon_aff.data.cifar import cifar_transforms
    image = mx.nd.array(_position_image(), dtype=np.uint8)
    # evaluation: normalisation only, exactly invertible with the original's mean and std
    np.testing.assert_allclose(_undo(cifar_transforms(train=False)(image)), _position_image(),
                               atol=1e-3)
    random.seed(0)
    mx.random.seed(0)
    train = cifar_transforms(train=True)
    row_offsets, col_offsets, flips = set(), set(), set()
    out_rows, out_cols = np.mgrid[0:32, 0:32]
    for _ in range(300):
        out = _undo(train(image))
        real = out[..., 2] == 255
        assert (out[~real] == 0).all()                  # zero padding around the image
        rows, cols = out[..., 0][real] // 8, out[..., 1][real] // 8
        dy = np.unique(rows - out_rows[real])           # a crop is a translation ...
        plain = np.unique(cols - out_cols[real])
        mirror = np.unique(cols + out_cols[real] - 31)  # ... then maybe a mirror image
        assert len(dy) == 1 and (len(plain) == 1) != (len(mirror) == 1)
        row_offsets.add(int(dy[0]))
        col_offsets.add(int(plain[0] if len(plain) == 1 else mirror[0]))
        flips.add(len(mirror) == 1)
    # pad 4: the crop offsets take every value in -4..4 (and no other) over 300 draws
    expected = set(range(-ORIGINAL_PAD, ORIGINAL_PAD + 1))
    assert row_offsets == expected and col_offsets == expected
    assert flips == {False, True}
