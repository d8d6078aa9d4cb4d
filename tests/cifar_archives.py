"""Tiny CIFAR-100 archives in the two real formats, written byte by byte by the tests.

The python version is a tar.gz of ``cifar-100-python/{train,test,meta}`` pickles (dict keys
``b'data'`` (N, 3072) uint8 with the R, G, B planes in a row, ``b'fine_labels'``,
``b'coarse_labels'``); the binary version is ``train.bin``/``test.bin`` records
``<coarse><fine><3072 bytes>``, as documented on https://www.cs.toronto.edu/~kriz/cifar.html.
"""
import io
import os
import pickle
import tarfile

import numpy as np


def make_split(n, seed):
    """Random images (N, 32, 32, 3) uint8 and independent fine/coarse labels."""
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n, 32, 32, 3)).astype(np.uint8)
    return images, rng.randint(0, 100, n), rng.randint(0, 20, n)


def _add(tar, name, raw):
    info = tarfile.TarInfo(name)
    info.size = len(raw)
    tar.addfile(info, io.BytesIO(raw))


def write_python_archive(directory, n_train=64, n_test=32, extract=False):
    """Write ``cifar-100-python.tar.gz`` (or the extracted folder); return the splits."""
    splits = {'train': make_split(n_train, 1), 'test': make_split(n_test, 2)}
    files = {}
    for name, (images, fine, coarse) in splits.items():
        planes = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
        files[name] = pickle.dumps({b'data': planes, b'fine_labels': [int(v) for v in fine],
                                    b'coarse_labels': [int(v) for v in coarse],
                                    b'filenames': [b'x.png'] * len(images)}, protocol=2)
    files['meta'] = pickle.dumps({b'fine_label_names': [b'f%d' % i for i in range(100)],
                                  b'coarse_label_names': [b'c%d' % i for i in range(20)]},
                                 protocol=2)
    _write(files, directory, 'cifar-100-python', extract, extract_into_folder=True)
    return splits


def write_binary_archive(directory, n_train=64, n_test=32, extract=False):
    """Write ``cifar-100-binary.tar.gz`` (or ``train.bin``/``test.bin``); return the splits."""
    splits = {'train': make_split(n_train, 3), 'test': make_split(n_test, 4)}
    files = {}
    for name, (images, fine, coarse) in splits.items():
        rows = [bytes([int(c), int(f)]) + img.transpose(2, 0, 1).tobytes()
                for img, f, c in zip(images, fine, coarse)]
        files[name + '.bin'] = b''.join(rows)
    files['coarse_label_names.txt'] = '\n'.join('c%d' % i for i in range(20)).encode()
    _write(files, directory, 'cifar-100-binary', extract, extract_into_folder=False)
    return splits


def _write(files, directory, archive, extract, extract_into_folder):
    """``files`` as ``archive.tar.gz`` (members under ``archive/``) or extracted loose files
    (inside ``archive/`` or directly in ``directory``, as the two real archives unpack)."""
    if extract:
        folder = os.path.join(directory, archive) if extract_into_folder else directory
        os.makedirs(folder, exist_ok=True)
        for name, raw in files.items():
            with open(os.path.join(folder, name), 'wb') as f:
                f.write(raw)
    else:
        with tarfile.open(os.path.join(directory, archive + '.tar.gz'), 'w:gz') as tar:
            for name, raw in files.items():
                _add(tar, archive + '/' + name, raw)
