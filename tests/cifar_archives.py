"""Tiny CIFAR-100 and CIFAR-10 archives in the real formats, written byte by byte by the tests.

As documented on https://www.cs.toronto.edu/~kriz/cifar.html:

* CIFAR-100 python: a tar.gz of ``cifar-100-python/{train,test,meta}`` pickles (dict keys
  ``b'data'`` (N, 3072) uint8 with the R, G, B planes in a row, ``b'fine_labels'``,
  ``b'coarse_labels'``); binary: ``train.bin``/``test.bin`` records ``<coarse><fine><3072 bytes>``;
* CIFAR-10 python: ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` pickles
  (``b'data'``, ``b'labels'``; meta ``b'label_names'``); binary:
  ``cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin`` records ``<label><3072 bytes>`` and
  ``batches.meta.txt``.
"""
import io
import os
import pickle
import tarfile

import numpy as np


def make_split(n, seed, classes=100):
    """Random images (N, 32, 32, 3) uint8 and independent labels (fine/class, coarse)."""
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n, 32, 32, 3)).astype(np.uint8)
    return images, rng.randint(0, classes, n), rng.randint(0, 20, n)


def _add(tar, name, raw):
    info = tarfile.TarInfo(name)
    info.size = len(raw)
    tar.addfile(info, io.BytesIO(raw))


def _planes(images):
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def write_python_archive(directory, n_train=64, n_test=32, extract=False):
    """Write ``cifar-100-python.tar.gz`` (or the extracted folder); return the splits."""
    splits = {'train': make_split(n_train, 1), 'test': make_split(n_test, 2)}
    files = {}
    for name, (images, fine, coarse) in splits.items():
        files[name] = pickle.dumps({b'data': _planes(images),
                                    b'fine_labels': [int(v) for v in fine],
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


def write_cifar10_archive(directory, kind, n_train=50, n_test=20, extract=False,
                          into_folder=True):
    """Write CIFAR-10 (``kind`` ``'python'`` or ``'binary'``): ``cifar-10-<kind>.tar.gz``, or the
    extracted files (in the archive's folder, or loose in ``directory`` as gluon's downloader
    leaves the binary files). Returns ``{'train': (images, labels), 'test': ...}``; the training
    set is split over 5 batch files in order."""
    splits = {'train': make_split(n_train, 5, 10)[:2], 'test': make_split(n_test, 6, 10)[:2]}
    batches = {'train': np.array_split(np.arange(n_train), 5), 'test': [np.arange(n_test)]}
    files = {}
    for split, parts in batches.items():
        images, labels = splits[split]
        for i, index in enumerate(parts):
            name = 'test_batch' if split == 'test' else 'data_batch_%d' % (i + 1)
            if kind == 'python':
                files[name] = pickle.dumps({b'data': _planes(images[index]),
                                            b'labels': [int(v) for v in labels[index]],
                                            b'batch_label': name.encode()}, protocol=2)
            else:
                files[name + '.bin'] = b''.join(
                    bytes([int(l)]) + img.transpose(2, 0, 1).tobytes()
                    for img, l in zip(images[index], labels[index]))
    if kind == 'python':
        files['batches.meta'] = pickle.dumps({b'label_names': [b'k%d' % i for i in range(10)],
                                              b'num_vis': 3072}, protocol=2)
    else:
        files['batches.meta.txt'] = '\n'.join('k%d' % i for i in range(10)).encode() + b'\n\n'
    archive = 'cifar-10-batches-py' if kind == 'python' else 'cifar-10-batches-bin'
    _write(files, directory, archive, extract, extract_into_folder=into_folder,
           archive_name='cifar-10-%s' % kind)
    return splits


def _write(files, directory, archive, extract, extract_into_folder, archive_name=None):
    """``files`` as ``<archive_name or archive>.tar.gz`` (members under ``archive/``) or
    extracted loose files (inside ``archive/`` or directly in ``directory``, as the real
    archives / gluon's downloader leave them)."""
    if extract:
        folder = os.path.join(directory, archive) if extract_into_folder else directory
        os.makedirs(folder, exist_ok=True)
        for name, raw in files.items():
            with open(os.path.join(folder, name), 'wb') as f:
                f.write(raw)
    else:
        os.makedirs(directory, exist_ok=True)
        name = (archive_name or archive) + '.tar.gz'
        with tarfile.open(os.path.join(directory, name), 'w:gz') as tar:
            for member, raw in files.items():
                _add(tar, archive + '/' + member, raw)
