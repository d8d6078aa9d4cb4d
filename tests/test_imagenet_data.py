"""ImageNet input: tiny RecordIO writer, .rec/.idx checks, the original's val transform."""
import io
import os

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from gluon_aff.data.imagenet import (check_record_file, folder_loaders, split_batch,
                                     train_rec_iter, val_rec_iter, val_resize,
                                     write_tiny_recordio)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp('rec') / 'tiny')
    return write_tiny_recordio(prefix, num_images=10, classes=4, size=64, seed=3)


def test_tiny_recordio_content_reads_back(tiny):
    rec, idx, labels = tiny
    assert labels == [i % 4 for i in range(10)]
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, 'r')
    assert sorted(reader.keys) == list(range(10))
    means = {}
    for i in range(10):
        header, payload = mx.recordio.unpack(reader.read_idx(i))
        assert header.label == i % 4 and header.id == i
        image = np.asarray(Image.open(io.BytesIO(payload)))
        assert image.shape == (64, 64, 3)
        means.setdefault(i % 4, []).append(image.reshape(-1, 3).mean(0))
    # the same class has the same mean colour (noise is +-40, mean of 4096 pixels)
    for cls, ms in means.items():
        assert np.abs(ms[0] - ms[1]).max() < 4
    assert check_record_file(rec, idx) == 10
    with open(tiny[0].replace('.rec', '.lst')) as f:
        assert len(f.readlines()) == 10


def test_missing_and_mismatched_files(tmp_path, tiny):
    rec, idx, _ = tiny
    with pytest.raises(FileNotFoundError, match='nope.rec'):
        check_record_file(str(tmp_path / 'nope.rec'), idx)
    with pytest.raises(FileNotFoundError, match='nope.idx'):
        check_record_file(rec, str(tmp_path / 'nope.idx'))
    lines = open(idx).read().split('\n')
    shifted = tmp_path / 'shifted.idx'
    shifted.write_text('\n'.join('%s\t%d' % (l.split('\t')[0], int(l.split('\t')[1]) + 4)
                                 for l in lines if l) + '\n')
    with pytest.raises(ValueError, match='no record at offset'):
        check_record_file(rec, str(shifted), sample=0)
    past = tmp_path / 'past.idx'
    past.write_text(open(idx).read() + '99\t%d\n' % (os.path.getsize(rec) + 10))
    with pytest.raises(ValueError, match='past the end'):
        check_record_file(rec, str(past))
    garbage = tmp_path / 'garbage.idx'
    garbage.write_text('0 12\n')
    with pytest.raises(ValueError, match='key<TAB>offset'):
        check_record_file(rec, str(garbage))
    notrec = tmp_path / 'x.rec'
    notrec.write_bytes(b'\x00' * 64)
    with pytest.raises(ValueError, match='not an MXNet RecordIO'):
        check_record_file(str(notrec), idx)
    with pytest.raises(FileNotFoundError, match='nope.rec'):
        train_rec_iter(str(tmp_path / 'nope.rec'), idx, 4)
    with pytest.raises(FileNotFoundError, match='train'):
        folder_loaders(str(tmp_path), 4)


def test_val_resize_hand_values():
    assert val_resize(224, 0.875) == 256          # 224 / 0.875 = 256
    assert val_resize(320, 0.875) == 366          # 365.71 -> 366
    assert val_resize(224, 0) == 256              # non-positive ratio -> 0.875 (original)
    assert val_resize(224, 1.0) == 224
    with pytest.raises(ValueError):
        val_resize(224, 1.5)


def test_val_iter_normalises_and_drops_padding(tmp_path):
    # constant-colour images: after resize/crop every pixel is (c - mean) / std
    colours = np.array([[200, 30, 90], [10, 250, 128], [128, 128, 128]], dtype=np.uint8)
    prefix = str(tmp_path / 'const')
    writer = mx.recordio.MXIndexedRecordIO(prefix + '.idx', prefix + '.rec', 'w')
    for i, c in enumerate(colours):
        buf = io.BytesIO()
        Image.fromarray(np.tile(c, (48, 80, 1))).save(buf, format='PNG')
        writer.write_idx(i, mx.recordio.pack(mx.recordio.IRHeader(0, float(i), i, 0),
                                             buf.getvalue()))
    writer.close()
    it = val_rec_iter(prefix + '.rec', prefix + '.idx', batch_size=2, input_size=32,
                      crop_ratio=0.875, num_workers=1)
    batches = list(it)
    assert [b.pad for b in batches] == [0, 1]
    got = []
    for b in batches:
        data, label = split_batch(b, [mx.cpu()], even_split=False)
        got.append((data[0].asnumpy(), label[0].asnumpy()))
    data = np.concatenate([g[0] for g in got])
    labels = np.concatenate([g[1] for g in got])
    assert data.shape == (3, 3, 32, 32) and list(labels) == [0, 1, 2]
    # the original's get_data_rec constants (open-aff train_imagenet.py, both versions)
    mean_rgb, std_rgb = [123.68, 116.779, 103.939], [58.393, 57.12, 57.375]
    expected = (colours.astype(np.float64) - mean_rgb) / std_rgb
    np.testing.assert_allclose(data.mean(axis=(2, 3)), expected, atol=1e-3)
    np.testing.assert_allclose(data.std(axis=(2, 3)), 0, atol=1e-3)


def test_train_iter_shape_and_uneven_device_split(tiny):
    rec, idx, _ = tiny
    it = train_rec_iter(rec, idx, batch_size=4, input_size=32, num_workers=1, seed=1)
    batch = next(iter(it))
    assert batch.data[0].shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match='3 devices'):
        split_batch(batch, [mx.cpu(0), mx.cpu(1), mx.cpu(2)])
    data, _ = split_batch(batch, [mx.cpu(0), mx.cpu(1)])
    assert [d.shape[0] for d in data] == [2, 2]
