"""CIFAR-100 from a local copy of the real archives, with coarse (20) or fine (100) labels.

Gluon's own ``gluon.data.vision.CIFAR100`` checks the archive's SHA-1 and re-downloads on any
mismatch, so it cannot read a user's local copy offline; this loader reads both official formats
itself:

* the python version: ``cifar-100-python.tar.gz`` or its extracted folder ``cifar-100-python/``
  holding the pickles ``train``, ``test`` (and ``meta`` with the label names);
* the binary version: ``cifar-100-binary.tar.gz`` or the extracted ``train.bin``/``test.bin``
  (directly in the data dir, as gluon's downloader leaves them, or under ``cifar-100-binary/``);
  each record is ``<coarse byte><fine byte><3072 pixel bytes>``.

Labels: ``'coarse'`` (the 20 super-classes) is the default because it is what the paper's CIFAR
numbers used: ``gluon.data.vision.CIFAR100`` defaults to ``fine_label=False`` (paper, Sec. 4).
``'fine'`` gives the 100-class task.

The transforms are the original's: pad-4 random crop, horizontal flip, ``ToTensor`` and
normalisation with mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010). The original's
AutoAugment (``autogluon.utils.augment``, MXNet-era autogluon) has no installable equivalent for
MXNet/Python 3.11 in gluoncv 0.10.5 or on PyPI, so it is not offered.
"""
import os
import pickle
import tarfile
import zlib

import numpy as np
from mxnet import gluon, nd
from mxnet.gluon.data.vision import transforms
from gluoncv.data import transforms as gcv_transforms

from .autoaugment import AutoAugment

__all__ = ['CIFAR100', 'load_cifar100', 'download_cifar100', 'cifar_transforms', 'LABEL_SETS',
           'CIFAR_MEAN', 'CIFAR_STD', 'num_label_classes']

#: label set -> number of classes
LABEL_SETS = {'coarse': 20, 'fine': 100}
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

_PY_ARCHIVE, _PY_DIR = 'cifar-100-python.tar.gz', 'cifar-100-python'
_BIN_ARCHIVE, _BIN_DIR = 'cifar-100-binary.tar.gz', 'cifar-100-binary'
_RECORD = 2 + 3072


def num_label_classes(labels):
    """20 for ``'coarse'``, 100 for ``'fine'`` (``ValueError`` otherwise)."""
    if labels not in LABEL_SETS:
        raise ValueError("labels must be 'coarse' (20 super-classes) or 'fine' (100 classes), "
                         "got %r" % (labels,))
    return LABEL_SETS[labels]


def _missing_message(data_dir):
    return ('no CIFAR-100 data in %s. Put the python version (%s, from '
            'https://www.cs.toronto.edu/~kriz/cifar.html) or the binary version (%s) there, '
            'extracted or not, or pass --download to fetch it with gluon\'s downloader.'
            % (data_dir, _PY_ARCHIVE, _BIN_ARCHIVE))


def _corrupt(path, why):
    return ValueError('corrupt CIFAR-100 data %s: %s. Delete it and put a fresh copy of the '
                      'archive there (or use --download).' % (path, why))


# ---------------------------------------------------------------------------- python version
def _parse_pickle(raw, path):
    try:
        entry = pickle.loads(raw, encoding='bytes')
        data = np.asarray(entry[b'data'], dtype=np.uint8)
        fine = np.asarray(entry[b'fine_labels'], dtype=np.int32)
        coarse = np.asarray(entry[b'coarse_labels'], dtype=np.int32)
    except Exception as err:  # unpickling errors come in many types
        raise _corrupt(path, 'cannot read the pickle (%s: %s)' % (type(err).__name__, err))
    if data.ndim != 2 or data.shape[1] != 3072 or len(fine) != len(data) \
            or len(coarse) != len(data):
        raise _corrupt(path, 'unexpected shapes data %s, %d fine and %d coarse labels'
                       % (data.shape, len(fine), len(coarse)))
    # rows hold the red, green, blue 32x32 planes one after the other
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), coarse, fine


def _names_from_meta(raw):
    meta = pickle.loads(raw, encoding='bytes')
    decode = lambda names: [n.decode() if isinstance(n, bytes) else n for n in names]  # noqa
    return decode(meta[b'coarse_label_names']), decode(meta[b'fine_label_names'])


# ---------------------------------------------------------------------------- binary version
def _parse_binary(raw, path):
    if len(raw) == 0 or len(raw) % _RECORD:
        raise _corrupt(path, 'size %d bytes is not a multiple of the %d-byte record'
                       % (len(raw), _RECORD))
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD)
    images = records[:, 2:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, records[:, 0].astype(np.int32), records[:, 1].astype(np.int32)


def _names_from_text(raw):
    return [line.strip() for line in raw.decode().splitlines() if line.strip()]


# ---------------------------------------------------------------------------- sources
def _read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def _find_source(data_dir):
    """Return ``(kind, reader, where)``: ``reader(member)`` gives the bytes of a member or None."""
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(_missing_message(data_dir))
    candidates = [('python', os.path.join(data_dir, _PY_DIR), 'train'),
                  ('python', data_dir, 'train'),
                  ('binary', data_dir, 'train.bin'),
                  ('binary', os.path.join(data_dir, _BIN_DIR), 'train.bin')]
    for kind, folder, marker in candidates:
        if os.path.isfile(os.path.join(folder, marker)) and (
                kind == 'binary' or os.path.isfile(os.path.join(folder, 'test'))):
            def reader(member, folder=folder):
                path = os.path.join(folder, member)
                return _read_file(path) if os.path.isfile(path) else None
            return kind, reader, folder
    for kind, archive in (('python', _PY_ARCHIVE), ('binary', _BIN_ARCHIVE)):
        path = os.path.join(data_dir, archive)
        if os.path.isfile(path):
            return kind, _archive_reader(path), path
    raise FileNotFoundError(_missing_message(data_dir))


def _archive_reader(path):
    try:
        with tarfile.open(path, 'r:*') as tar:
            members = {os.path.basename(m.name): tar.extractfile(m).read()
                       for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error) as err:
        raise _corrupt(path, 'not a readable tar.gz archive (%s)' % err)
    return members.get


def load_cifar100(data_dir, train=True, labels='coarse'):
    """Read CIFAR-100 from ``data_dir``.

    Parameters
    ----------
    data_dir : str
        Folder holding one of the official archives, extracted or not (see the module docs).
    train : bool, default True
        The 50,000 training images, else the 10,000 test images.
    labels : {'coarse', 'fine'}, default 'coarse'
        20 super-class labels (as the paper's experiments) or the 100 fine labels.

    Returns
    -------
    images : numpy.ndarray, uint8, (N, 32, 32, 3)
    labels : numpy.ndarray, int32, (N,)
    label_names : list of str or None
        Names of the selected label set when the archive holds them.
    """
    num_label_classes(labels)
    data_dir = os.path.expanduser(data_dir)
    kind, reader, where = _find_source(data_dir)
    if kind == 'python':
        member = 'train' if train else 'test'
        raw = reader(member)
        if raw is None:
            raise _corrupt(where, 'the pickle %r is missing' % member)
        images, coarse, fine = _parse_pickle(raw, os.path.join(where, member))
        meta = reader('meta')
        names = _names_from_meta(meta) if meta is not None else (None, None)
    else:
        member = 'train.bin' if train else 'test.bin'
        raw = reader(member)
        if raw is None:
            raise _corrupt(where, 'the file %r is missing' % member)
        images, coarse, fine = _parse_binary(raw, os.path.join(where, member))
        names = tuple(_names_from_text(r) if r is not None else None
                      for r in (reader('coarse_label_names.txt'),
                                reader('fine_label_names.txt')))
    selected = coarse if labels == 'coarse' else fine
    top = LABEL_SETS[labels]
    if selected.min() < 0 or selected.max() >= top:
        raise _corrupt(where, '%s labels outside [0, %d)' % (labels, top))
    return np.ascontiguousarray(images), selected, names[0 if labels == 'coarse' else 1]


def download_cifar100(data_dir):
    """Fetch the binary archive into ``data_dir`` with gluon's downloader (hash-checked)."""
    data_dir = os.path.expanduser(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    gluon.data.vision.CIFAR100(root=data_dir, train=True)
    gluon.data.vision.CIFAR100(root=data_dir, train=False)
    return data_dir


class CIFAR100(gluon.data.ArrayDataset):
    """CIFAR-100 as a gluon dataset of ``(HWC uint8 NDArray, int32 label)`` pairs.

    Parameters
    ----------
    root : str
        Data folder (see :func:`load_cifar100`).
    train : bool, default True
        Training or test split.
    labels : {'coarse', 'fine'}, default 'coarse'
        Label set; ``classes`` is 20 or 100 and ``label_names`` their names when known.
    """

    def __init__(self, root, train=True, labels='coarse'):
        images, targets, names = load_cifar100(root, train=train, labels=labels)
        super(CIFAR100, self).__init__(nd.array(images, dtype=np.uint8), targets)
        self.labels = labels
        self.classes = LABEL_SETS[labels]
        self.label_names = names


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
    steps = []
    if auto_augment:
        if not train:
            raise ValueError('AutoAugment is a training transform; the original tested on '
                             'normalised images only')
        if not isinstance(auto_augment, AutoAugment):
            auto_augment = AutoAugment('cifar10' if auto_augment is True else auto_augment)
        steps.append(auto_augment)
    if train:
        steps += [gcv_transforms.RandomCrop(32, pad=4), transforms.RandomFlipLeftRight()]
    steps += [transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)]
    return transforms.Compose(steps)
