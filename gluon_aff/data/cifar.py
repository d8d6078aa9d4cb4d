"""CIFAR-10 and CIFAR-100 from a local copy of the real archives.

Gluon's own ``gluon.data.vision.CIFAR10``/``CIFAR100`` check the archive's SHA-1 and re-download
on any mismatch, so they cannot read a user's local copy offline; this loader reads both official
formats of both data sets itself (https://www.cs.toronto.edu/~kriz/cifar.html):

* the python version: ``cifar-100-python.tar.gz`` / ``cifar-10-python.tar.gz`` or its extracted
  folder ``cifar-100-python/`` (pickles ``train``, ``test``, ``meta``) / ``cifar-10-batches-py/``
  (pickles ``data_batch_1`` .. ``data_batch_5``, ``test_batch``, ``batches.meta``);
* the binary version: ``cifar-100-binary.tar.gz`` / ``cifar-10-binary.tar.gz`` or the extracted
  files, directly in the data dir (as gluon's downloader leaves them) or under
  ``cifar-100-binary/`` / ``cifar-10-batches-bin/``: CIFAR-100 ``train.bin``/``test.bin``, records
  ``<coarse byte><fine byte><3072 pixel bytes>``; CIFAR-10 ``data_batch_1.bin`` ..
  ``data_batch_5.bin``/``test_batch.bin``, records ``<label byte><3072 pixel bytes>``.

CIFAR-100 labels: ``'coarse'`` (the 20 super-classes) is the default because it is what the
paper's CIFAR numbers used: ``gluon.data.vision.CIFAR100`` defaults to ``fine_label=False``
(paper, Sec. 4). ``'fine'`` gives the 100-class task. CIFAR-10 has its 10 classes (the original's
``--dataset cifar10``, which built a 10-way head).

The transforms are the original's: optionally AutoAugment (``--auto_aug``, see
:mod:`gluon_aff.data.autoaugment`), pad-4 random crop, horizontal flip, ``ToTensor`` and
normalisation with mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010) - the same for
both data sets, as the original.
"""
import os
import pickle
import tarfile
import zlib
from collections import namedtuple

import numpy as np
from mxnet import gluon, nd
from mxnet.gluon.data.vision import transforms
from gluoncv.data import transforms as gcv_transforms

from .autoaugment import autoaugment_step

__all__ = ['CIFAR100', 'load_cifar100', 'download_cifar100', 'CIFAR10', 'load_cifar10',
           'download_cifar10', 'load_cifar', 'cifar_transforms', 'LABEL_SETS', 'CIFAR_MEAN',
           'CIFAR_STD', 'num_label_classes', 'DATASETS']

#: CIFAR-100 label set -> number of classes
LABEL_SETS = {'coarse': 20, 'fine': 100}
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
_PIXELS = 3072

#: how each data set is stored: ``labels`` are the label sets in record / pickle order
_Format = namedtuple('_Format', 'title labels py_archive py_dir py_train py_test py_meta '
                                'py_keys bin_archive bin_dir bin_train bin_test bin_names')
_FORMATS = {
    'cifar100': _Format('CIFAR-100', ('coarse', 'fine'), 'cifar-100-python.tar.gz',
                        'cifar-100-python', ('train',), ('test',), 'meta',
                        (b'coarse_labels', b'fine_labels'), 'cifar-100-binary.tar.gz',
                        'cifar-100-binary', ('train.bin',), ('test.bin',),
                        ('coarse_label_names.txt', 'fine_label_names.txt')),
    'cifar10': _Format('CIFAR-10', ('class',), 'cifar-10-python.tar.gz', 'cifar-10-batches-py',
                       tuple('data_batch_%d' % i for i in range(1, 6)), ('test_batch',),
                       'batches.meta', (b'labels',), 'cifar-10-binary.tar.gz',
                       'cifar-10-batches-bin', tuple('data_batch_%d.bin' % i for i in range(1, 6)),
                       ('test_batch.bin',), ('batches.meta.txt',)),
}
#: data set -> number of classes of its default label set
DATASETS = {'cifar10': 10, 'cifar100': 100}
_META_NAMES = {b'coarse_labels': b'coarse_label_names', b'fine_labels': b'fine_label_names',
               b'labels': b'label_names'}


def num_label_classes(labels):
    """20 for ``'coarse'``, 100 for ``'fine'`` (``ValueError`` otherwise)."""
    if labels not in LABEL_SETS:
        raise ValueError("labels must be 'coarse' (20 super-classes) or 'fine' (100 classes), "
                         "got %r" % (labels,))
    return LABEL_SETS[labels]


def _missing_message(data_dir, fmt):
    return ('no %s data in %s. Put the python version (%s, from '
            'https://www.cs.toronto.edu/~kriz/cifar.html) or the binary version (%s) there, '
            'extracted or not, or pass --download to fetch it with gluon\'s downloader.'
            % (fmt.title, data_dir, fmt.py_archive, fmt.bin_archive))


def _corrupt(path, why, fmt):
    return ValueError('corrupt %s data %s: %s. Delete it and put a fresh copy of the '
                      'archive there (or use --download).' % (fmt.title, path, why))


# ---------------------------------------------------------------------------- python version
def _parse_pickle(raw, path, fmt):
    """``(images (N, 32, 32, 3), [labels per label set])`` of one pickled batch."""
    try:
        entry = pickle.loads(raw, encoding='bytes')
        data = np.asarray(entry[b'data'], dtype=np.uint8)
        labels = [np.asarray(entry[key], dtype=np.int32) for key in fmt.py_keys]
    except Exception as err:  # unpickling errors come in many types
        raise _corrupt(path, 'cannot read the pickle (%s: %s)' % (type(err).__name__, err), fmt)
    if data.ndim != 2 or data.shape[1] != _PIXELS or any(len(l) != len(data) for l in labels):
        raise _corrupt(path, 'unexpected shapes data %s, %s labels'
                       % (data.shape, ' and '.join(str(len(l)) for l in labels)), fmt)
    # rows hold the red, green, blue 32x32 planes one after the other
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _names_from_meta(raw, fmt):
    meta = pickle.loads(raw, encoding='bytes')
    decode = lambda names: [n.decode() if isinstance(n, bytes) else n for n in names]  # noqa
    return [decode(meta[_META_NAMES[key]]) if _META_NAMES[key] in meta else None
            for key in fmt.py_keys]


# ---------------------------------------------------------------------------- binary version
def _parse_binary(raw, path, fmt):
    record = len(fmt.labels) + _PIXELS
    if len(raw) == 0 or len(raw) % record:
        raise _corrupt(path, 'size %d bytes is not a multiple of the %d-byte record'
                       % (len(raw), record), fmt)
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    images = records[:, len(fmt.labels):].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, [records[:, i].astype(np.int32) for i in range(len(fmt.labels))]


def _names_from_text(raw):
    return [line.strip() for line in raw.decode().splitlines() if line.strip()]


# ---------------------------------------------------------------------------- sources
def _read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def _find_source(data_dir, fmt):
    """Return ``(kind, reader, where)``: ``reader(member)`` gives the bytes of a member or None."""
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(_missing_message(data_dir, fmt))
    candidates = [('python', os.path.join(data_dir, fmt.py_dir)), ('python', data_dir),
                  ('binary', data_dir), ('binary', os.path.join(data_dir, fmt.bin_dir))]
    for kind, folder in candidates:
        marker = fmt.py_train[0] if kind == 'python' else fmt.bin_train[0]
        if os.path.isfile(os.path.join(folder, marker)) and (
                kind == 'binary' or os.path.isfile(os.path.join(folder, fmt.py_test[0]))):
            def reader(member, folder=folder):
                path = os.path.join(folder, member)
                return _read_file(path) if os.path.isfile(path) else None
            return kind, reader, folder
    for kind, archive in (('python', fmt.py_archive), ('binary', fmt.bin_archive)):
        path = os.path.join(data_dir, archive)
        if os.path.isfile(path):
            return kind, _archive_reader(path, fmt), path
    raise FileNotFoundError(_missing_message(data_dir, fmt))


def _archive_reader(path, fmt):
    try:
        with tarfile.open(path, 'r:*') as tar:
            members = {os.path.basename(m.name): tar.extractfile(m).read()
                       for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error) as err:
        raise _corrupt(path, 'not a readable tar.gz archive (%s)' % err, fmt)
    return members.get


def load_cifar(data_dir, dataset='cifar100', train=True, labels=None, return_source=False):
    """Read CIFAR-10 or CIFAR-100 from ``data_dir``.

    Parameters
    ----------
    data_dir : str
        Folder holding one of the official archives, extracted or not (see the module docs).
    dataset : {'cifar100', 'cifar10'}
    train : bool, default True
        The 50,000 training images, else the 10,000 test images.
    labels : str or None
        CIFAR-100: ``'coarse'`` (default; 20 super-classes, as the paper's experiments) or
        ``'fine'`` (100 classes). CIFAR-10: None (its 10 classes).

    Returns
    -------
    images : numpy.ndarray, uint8, (N, 32, 32, 3)
    labels : numpy.ndarray, int32, (N,)
    label_names : list of str or None
        Names of the selected label set when the archive holds them.
    source : (str, str)
        With ``return_source``: the format read (``'python'``/``'binary'``) and the archive or
        folder it was read from.
    """
    if dataset not in _FORMATS:
        raise ValueError('dataset must be one of %s, got %r' % (sorted(_FORMATS), dataset))
    fmt = _FORMATS[dataset]
    labels, top = label_set(dataset, labels)
    data_dir = os.path.expanduser(data_dir)
    kind, reader, where = _find_source(data_dir, fmt)
    members = (fmt.py_train if train else fmt.py_test) if kind == 'python' else \
        (fmt.bin_train if train else fmt.bin_test)
    parts = []
    for member in members:
        raw = reader(member)
        if raw is None:
            raise _corrupt(where, 'the %s %r is missing'
                           % ('pickle' if kind == 'python' else 'file', member), fmt)
        parse = _parse_pickle if kind == 'python' else _parse_binary
        parts.append(parse(raw, os.path.join(where, member), fmt))
    images = np.concatenate([p[0] for p in parts])
    which = fmt.labels.index(labels)
    selected = np.concatenate([p[1][which] for p in parts])
    if kind == 'python':
        meta = reader(fmt.py_meta)
        names = _names_from_meta(meta, fmt) if meta is not None else [None] * len(fmt.labels)
    else:
        names = [_names_from_text(r) if r is not None else None
                 for r in (reader(n) for n in fmt.bin_names)]
    if selected.min() < 0 or selected.max() >= top:
        raise _corrupt(where, '%s labels outside [0, %d)' % (labels, top), fmt)
    out = (np.ascontiguousarray(images), selected, names[which])
    return out + ((kind, where),) if return_source else out


def load_cifar100(data_dir, train=True, labels='coarse'):
    """CIFAR-100 from ``data_dir`` (:func:`load_cifar`; ``labels`` ``'coarse'`` or ``'fine'``)."""
    return load_cifar(data_dir, 'cifar100', train=train, labels=labels)


def load_cifar10(data_dir, train=True):
    """CIFAR-10 from ``data_dir`` (:func:`load_cifar`)."""
    return load_cifar(data_dir, 'cifar10', train=train)


def _download(data_dir, dataset_class):
    data_dir = os.path.expanduser(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    dataset_class(root=data_dir, train=True)
    dataset_class(root=data_dir, train=False)
    return data_dir


def download_cifar100(data_dir):
    """Fetch the binary archive into ``data_dir`` with gluon's downloader (hash-checked)."""
    return _download(data_dir, gluon.data.vision.CIFAR100)


def download_cifar10(data_dir):
    """Fetch the CIFAR-10 binary archive into ``data_dir`` with gluon's downloader."""
    return _download(data_dir, gluon.data.vision.CIFAR10)


def label_set(dataset, labels):
    """``(label set, number of classes)`` of ``dataset`` for the ``labels`` asked for:
    CIFAR-100 ``'coarse'`` (the default, the original's 20 super-classes) or ``'fine'``;
    CIFAR-10 its one set ``'class'``."""
    if dataset == 'cifar100':
        labels = labels or 'coarse'
        num_label_classes(labels)
        return labels, LABEL_SETS[labels]
    if labels not in (None, 'class'):
        raise ValueError('CIFAR-10 has one label set (10 classes); labels=%r is for '
                         'CIFAR-100' % (labels,))
    return 'class', DATASETS[dataset]


class _CIFARDataset(gluon.data.ArrayDataset):
    """``(HWC uint8 NDArray, int32 label)`` pairs of :func:`load_cifar`; ``labels``, ``classes``
    (number of classes) and ``label_names`` (when the archive holds them) describe them,
    ``source`` is ``(format, path)`` of what was read."""

    def __init__(self, root, dataset, train, labels):
        images, targets, names, self.source = load_cifar(root, dataset, train=train,
                                                         labels=labels, return_source=True)
        super(_CIFARDataset, self).__init__(nd.array(images, dtype=np.uint8), targets)
        self.labels, self.classes = label_set(dataset, labels)
        self.label_names = names


class CIFAR100(_CIFARDataset):
    """CIFAR-100 as a gluon dataset of ``(HWC uint8 NDArray, int32 label)`` pairs.

    Parameters
    ----------
    root : str
        Data folder (see :func:`load_cifar`).
    train : bool, default True
        Training or test split.
    labels : {'coarse', 'fine'}, default 'coarse'
        Label set; ``classes`` is 20 or 100 and ``label_names`` their names when known.
    """

    def __init__(self, root, train=True, labels='coarse'):
        super(CIFAR100, self).__init__(root, 'cifar100', train, labels)


class CIFAR10(_CIFARDataset):
    """CIFAR-10 as a gluon dataset, like :class:`CIFAR100` (``root``, ``train``) with its one
    label set: ``classes`` is 10, ``label_names`` the class names when the archive holds them."""

    def __init__(self, root, train=True):
        super(CIFAR10, self).__init__(root, 'cifar10', train, None)


def cifar_transforms(train, auto_augment=None):
    """The original open-aff CIFAR transforms: pad-4 crop + flip for training, then normalise.

    Parameters
    ----------
    train : bool
        Training transforms (random) or test transforms (normalisation only).
    auto_augment : None, bool, str or AutoAugment
        Training only: :class:`~gluon_aff.data.AutoAugment` first, before the pad-crop, as the
        original's ``--auto_aug`` (``True`` = the ``'cifar10'`` policy its logged runs used; a
        policy name or an ``AutoAugment`` instance). Off by default.
    """
    augment = autoaugment_step(auto_augment, 'cifar10', train)
    steps = [] if augment is None else [augment]
    if train:
        steps += [gcv_transforms.RandomCrop(32, pad=4), transforms.RandomFlipLeftRight()]
    steps += [transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)]
    return transforms.Compose(steps)
