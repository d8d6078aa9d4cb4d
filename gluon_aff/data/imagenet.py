"""ImageNet input pipelines: RecordIO (the original's default) and an image-folder alternative.

The augmentation is the one of open-aff's ``train_imagenet.py`` (itself GluonCV's ImageNet
recipe), for both the paper-version and the final code:

* train (RecordIO): ``mx.io.ImageRecordIter`` with random-resized crop (area 0.08-1, aspect
  3/4-4/3) to ``input_size``, random mirror, brightness/contrast/saturation jitter 0.4, PCA
  lighting noise 0.1, mean/std normalisation in 0-255 pixel units;
* val (RecordIO): shorter side resized to ``ceil(input_size / crop_ratio)`` (256 for 224 and the
  default crop ratio 0.875), then a center crop of ``input_size``.

Input size 320 (the first, aborted start of the original's iAFF-ResNeXt-50 log; its 240-epoch run
was at 224): on RecordIO the same iterators with ``data_shape`` 320, i.e. a random-resized crop
to 320 for training and, for validation, the shorter side resized to ``ceil(320 / 0.875) = 366``
and a 320 center crop.

The image-folder path uses the equivalent ``gluon.data.vision.transforms`` (as the original's
``get_data_loader`` for ``input_size < 320``) and, from 320 on, the original's EfficientNet-style
branch (:func:`folder_transforms`). The original's ``--auto_aug`` flag only ever acted on that
path (AutoAugment's ``'imagenet'`` policy, ``auto_augment=`` here), never on RecordIO input, so
the released models were trained *without* AutoAugment (see ``docs/imagenet.md``).

:func:`write_tiny_recordio` builds a small ``.rec``/``.idx``/``.lst`` set with ``mx.recordio``
for tests and smoke runs.
"""
import io
import math
import os
import struct

import mxnet as mx
import numpy as np
from mxnet import gluon

__all__ = ['MEAN_RGB', 'STD_RGB', 'RECORDIO_MAGIC', 'val_resize', 'check_record_file',
           'train_rec_iter', 'val_rec_iter', 'folder_loaders', 'split_batch', 'train_split_batch',
           'write_tiny_recordio', 'NUM_TRAINING_SAMPLES', 'DEFAULT_REC_DIR', 'rec_paths',
           'folder_transforms', 'EFFICIENTNET_CROP_SIZE']

#: ImageNet-1k training-set size used by the original to derive iterations per epoch
NUM_TRAINING_SAMPLES = 1281167
#: mean / std in 0-255 pixel units (RecordIO iterator); the folder path uses them / 255
MEAN_RGB = (123.68, 116.779, 103.939)
STD_RGB = (58.393, 57.12, 57.375)
#: first 4 bytes of every record of an MXNet RecordIO file (little endian)
RECORDIO_MAGIC = 0xced7230a

JITTER = 0.4
LIGHTING = 0.1


def val_resize(input_size=224, crop_ratio=0.875):
    """Shorter-side resize before the center crop: ``ceil(input_size / crop_ratio)``.

    The original replaces a non-positive ``crop_ratio`` by 0.875; so do we.
    """
    if input_size <= 0:
        raise ValueError('input_size must be positive, got %r' % (input_size,))
    crop_ratio = crop_ratio if crop_ratio > 0 else 0.875
    if crop_ratio > 1:
        raise ValueError('crop_ratio must be in (0, 1], got %r' % (crop_ratio,))
    return int(math.ceil(input_size / crop_ratio))


def _read_index(idx_path):
    entries = []
    with open(idx_path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split('\t')
            if len(parts) != 2:
                raise ValueError('%s line %d is not "key<TAB>offset": %r' % (idx_path, lineno, line))
            try:
                entries.append((int(parts[0]), int(parts[1])))
            except ValueError:
                raise ValueError('%s line %d is not "key<TAB>offset": %r'
                                 % (idx_path, lineno, line))
    return entries


#: GluonCV's ImageNet RecordIO location (``imagenet.py --rec`` of gluoncv's data scripts)
DEFAULT_REC_DIR = os.path.join('~', '.mxnet', 'datasets', 'imagenet', 'rec')


def rec_paths(rec_dir=DEFAULT_REC_DIR, rec_train=None, rec_train_idx=None, rec_val=None,
              rec_val_idx=None):
    """The four RecordIO paths: those given, else ``rec_dir/{train,val}.{rec,idx}``.

    A default validation file that does not exist gives ``None`` (train without validation);
    missing training files are left to :func:`check_record_file`, which names them.
    """
    rec_dir = os.path.expanduser(rec_dir)
    given = (rec_train, rec_train_idx, rec_val, rec_val_idx)
    names = ('train.rec', 'train.idx', 'val.rec', 'val.idx')
    paths = [os.path.expanduser(path) if path else os.path.join(rec_dir, name)
             for path, name in zip(given, names)]
    if not rec_val and not os.path.isfile(paths[2]):
        paths[2] = paths[3] = None
    return tuple(paths)


def check_record_file(rec_path, idx_path=None, sample=1000, seed=0):
    """Check that a RecordIO file (and its index) exist and agree; return the record count.

    Parameters
    ----------
    rec_path : str
        ``.rec`` file.
    idx_path : str or None
        ``.idx`` file (``key<TAB>byte offset`` per line). ``None``: only the ``.rec`` is checked.
    sample : int, default 1000
        How many index entries (first, last and a random sample) are checked for a record
        header at their offset. ``0`` checks every entry.
    seed : int
        Seed of the sample.

    Raises
    ------
    FileNotFoundError
        A file is missing.
    ValueError
        The ``.rec`` is empty or not RecordIO, or the ``.idx`` does not match it (offset past
        the end, decreasing offsets, no record header at an offset, a record running past the
        end of the file).
    """
    rec_path = os.path.expanduser(rec_path)
    if not os.path.isfile(rec_path):
        raise FileNotFoundError('RecordIO file not found: %s' % rec_path)
    size = os.path.getsize(rec_path)
    if size < 8:
        raise ValueError('RecordIO file %s is empty or truncated (%d bytes)' % (rec_path, size))
    with open(rec_path, 'rb') as f:
        if struct.unpack('<I', f.read(4))[0] != RECORDIO_MAGIC:
            raise ValueError('%s is not an MXNet RecordIO file (bad magic number)' % rec_path)
    if idx_path is None:
        return None
    idx_path = os.path.expanduser(idx_path)
    if not os.path.isfile(idx_path):
        raise FileNotFoundError('RecordIO index not found: %s (make it with im2rec.py, or pass '
                                'the .idx that belongs to %s)' % (idx_path, rec_path))
    entries = _read_index(idx_path)
    if not entries:
        raise ValueError('RecordIO index %s is empty' % idx_path)
    offsets = np.array(sorted(off for _, off in entries), dtype=np.int64)
    if offsets[-1] >= size:
        raise ValueError('index %s does not match %s: offset %d is past the end of the file '
                         '(%d bytes)' % (idx_path, rec_path, offsets[-1], size))
    if len(np.unique(offsets)) != len(offsets):
        raise ValueError('index %s does not match %s: repeated offsets' % (idx_path, rec_path))
    if sample and len(offsets) > sample:
        rng = np.random.RandomState(seed)
        picks = np.concatenate([[0, len(offsets) - 1],
                                rng.choice(len(offsets), sample - 2, replace=False)])
        to_check = offsets[np.unique(picks)]
    else:
        to_check = offsets
    with open(rec_path, 'rb') as f:
        for off in to_check:
            f.seek(int(off))
            head = f.read(8)
            if len(head) < 8 or struct.unpack('<I', head[:4])[0] != RECORDIO_MAGIC:
                raise ValueError('index %s does not match %s: no record at offset %d'
                                 % (idx_path, rec_path, off))
            length = struct.unpack('<I', head[4:])[0] & ((1 << 29) - 1)
            if off + 8 + length > size:
                raise ValueError('index %s does not match %s: the record at offset %d runs past '
                                 'the end of the file' % (idx_path, rec_path, off))
    return len(entries)


def train_rec_iter(rec_path, idx_path, batch_size, input_size=224, num_workers=4,
                   num_parts=1, part_index=0, seed=0, dtype='float32', check=True):
    """Training ``mx.io.ImageRecordIter`` with the original's augmentation.

    Parameters
    ----------
    rec_path, idx_path : str
        Training ``.rec`` and ``.idx``.
    batch_size : int
        Total batch of this worker (split over its devices afterwards).
    input_size : int, default 224
    num_workers : int
        Decoding threads (``preprocess_threads``).
    num_parts, part_index : int
        Shard of the data this worker reads (distributed training: ``kv.num_workers``,
        ``kv.rank``). The original was single-machine (1, 0).
    seed : int
        Seed of the shuffling and augmentation RNG.
    """
    if check:
        check_record_file(rec_path, idx_path)
    return mx.io.ImageRecordIter(
        path_imgrec=os.path.expanduser(rec_path), path_imgidx=os.path.expanduser(idx_path),
        preprocess_threads=num_workers, shuffle=True, batch_size=batch_size,
        data_shape=(3, input_size, input_size),
        mean_r=MEAN_RGB[0], mean_g=MEAN_RGB[1], mean_b=MEAN_RGB[2],
        std_r=STD_RGB[0], std_g=STD_RGB[1], std_b=STD_RGB[2],
        rand_mirror=True, random_resized_crop=True,
        max_aspect_ratio=4. / 3., min_aspect_ratio=3. / 4.,
        max_random_area=1, min_random_area=0.08,
        brightness=JITTER, saturation=JITTER, contrast=JITTER, pca_noise=LIGHTING,
        num_parts=num_parts, part_index=part_index, seed=seed, dtype=dtype)


def val_rec_iter(rec_path, idx_path, batch_size, input_size=224, crop_ratio=0.875, resize=None,
                 num_workers=4, num_parts=1, part_index=0, check=True):
    """Validation ``mx.io.ImageRecordIter``: resize the shorter side, center crop, normalise.

    ``resize`` (shorter side) defaults to :func:`val_resize` ``(input_size, crop_ratio)``:
    256 / 224 for the defaults, the paper's single-crop setting. The last batch is padded
    (``batch.pad`` says by how many samples); :func:`split_batch` drops the padding.
    """
    if check:
        check_record_file(rec_path, idx_path)
    if resize is None:
        resize = val_resize(input_size, crop_ratio)
    if resize < input_size:
        raise ValueError('resize (%d) must be >= input_size (%d)' % (resize, input_size))
    return mx.io.ImageRecordIter(
        path_imgrec=os.path.expanduser(rec_path), path_imgidx=os.path.expanduser(idx_path),
        preprocess_threads=num_workers, shuffle=False, batch_size=batch_size,
        resize=resize, data_shape=(3, input_size, input_size),
        mean_r=MEAN_RGB[0], mean_g=MEAN_RGB[1], mean_b=MEAN_RGB[2],
        std_r=STD_RGB[0], std_g=STD_RGB[1], std_b=STD_RGB[2],
        num_parts=num_parts, part_index=part_index)


class _EfficientNetCrop(gluon.Block):
    """NDArray -> PIL -> gluoncv's EfficientNet random or center crop -> bicubic resize to
    ``size`` x ``size`` -> HWC uint8 NDArray (the original's ``input_size >= 320`` crops)."""

    def __init__(self, size, train):
        super(_EfficientNetCrop, self).__init__()
        from gluoncv.utils.transforms import EfficientNetCenterCrop, EfficientNetRandomCrop
        self.size = size
        self.crop = EfficientNetRandomCrop(size) if train else EfficientNetCenterCrop(size)

    def forward(self, x):
        from PIL import Image
        img = Image.fromarray(x.asnumpy() if isinstance(x, mx.nd.NDArray) else np.asarray(x))
        img = self.crop(img).resize((self.size, self.size), Image.BICUBIC)
        return mx.nd.array(np.asarray(img), dtype=np.uint8)


#: from this input size on, the original's image-folder path used EfficientNet-style crops
EFFICIENTNET_CROP_SIZE = 320


def folder_transforms(train, input_size=224, crop_ratio=0.875, auto_augment=None):
    """The original's image-folder transforms (``get_data_loader`` of ``train_imagenet.py``).

    ``input_size < 320``: random-resized crop, flip, colour jitter 0.4, lighting 0.1 (train);
    shorter side to :func:`val_resize`, center crop (val). ``input_size >= 320``: gluoncv's
    ``EfficientNetRandomCrop`` (train) or ``EfficientNetCenterCrop`` (val: a square of
    ``input_size / (input_size + 32)`` of the shorter side, centred), each resized bicubically
    to ``input_size`` x ``input_size``, then for training flip, jitter and lighting. The original
    fed the dataset's NDArray straight to the PIL-only EfficientNet crop on the training side,
    which fails; here the image is converted to PIL first, and flip and jitter are gluon's (the
    original's PIL versions from autogluon are not available). Both end with ``ToTensor`` and
    the mean/std normalisation.

    ``auto_augment`` (training only): :class:`~gluon_aff.data.AutoAugment` first, ``True`` =
    the ``'imagenet'`` policy, as the original's ``--auto_aug`` on this path.
    """
    from mxnet.gluon.data.vision import transforms
    from .autoaugment import autoaugment_step
    mean = [m / 255. for m in MEAN_RGB]
    std = [s / 255. for s in STD_RGB]
    augment = autoaugment_step(auto_augment, 'imagenet', train)
    steps = [] if augment is None else [augment]
    if input_size >= EFFICIENTNET_CROP_SIZE:
        steps.append(_EfficientNetCrop(input_size, train))
    elif train:
        steps.append(transforms.RandomResizedCrop(input_size))
    else:
        steps += [transforms.Resize(val_resize(input_size, crop_ratio), keep_ratio=True),
                  transforms.CenterCrop(input_size)]
    if train:
        steps += [transforms.RandomFlipLeftRight(),
                  transforms.RandomColorJitter(brightness=JITTER, contrast=JITTER,
                                               saturation=JITTER),
                  transforms.RandomLighting(LIGHTING)]
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


def folder_loaders(data_dir, batch_size, input_size=224, crop_ratio=0.875, num_workers=4,
                   train=True, val=True, auto_augment=None):
    """``(train_loader, val_loader)`` over ``data_dir/train`` and ``data_dir/val`` image folders.

    One sub-folder per class (the layout of ``gluoncv``'s ImageNet preparation script). The
    transforms are :func:`folder_transforms` (``auto_augment`` for training). A loader that is
    not asked for is ``None``.
    """
    from mxnet.gluon.data.vision import ImageFolderDataset
    data_dir = os.path.expanduser(data_dir)
    loaders = []
    for split, wanted in (('train', train), ('val', val)):
        if not wanted:
            loaders.append(None)
            continue
        folder = os.path.join(data_dir, split)
        if not os.path.isdir(folder):
            raise FileNotFoundError('image folder not found: %s (expected one sub-folder per '
                                    'class)' % folder)
        tf = folder_transforms(split == 'train', input_size, crop_ratio,
                               auto_augment if split == 'train' else None)
        dataset = ImageFolderDataset(folder)
        if len(dataset) == 0:
            raise ValueError('no images found under %s' % folder)
        loaders.append(gluon.data.DataLoader(
            dataset.transform_first(tf), batch_size=batch_size, shuffle=split == 'train',
            last_batch='discard' if split == 'train' else 'keep', num_workers=num_workers))
    return tuple(loaders)


def split_batch(batch, ctx_list, even_split=True, drop_pad=True):
    """``(data_list, label_list)`` of a RecordIO ``DataBatch`` or a ``(data, label)`` pair, split
    over ``ctx_list``.

    ``drop_pad``: drop the ``batch.pad`` samples a RecordIO iterator repeats to fill its last
    batch (evaluation). Training keeps them, as the original, so every step has the same batch.
    ``even_split``: require the batch to divide by the number of devices (``ValueError``).
    """
    if isinstance(batch, mx.io.DataBatch):
        data, label = batch.data[0], batch.label[0]
        pad = batch.pad or 0
        if pad and drop_pad:
            data, label = data[:data.shape[0] - pad], label[:label.shape[0] - pad]
    else:
        data, label = batch[0], batch[1]
    if even_split and data.shape[0] % len(ctx_list):
        raise ValueError('batch of %d samples does not split evenly over %d devices'
                         % (data.shape[0], len(ctx_list)))
    even = data.shape[0] % len(ctx_list) == 0
    return (gluon.utils.split_and_load(data, ctx_list, batch_axis=0, even_split=even),
            gluon.utils.split_and_load(label, ctx_list, batch_axis=0, even_split=even))


def train_split_batch(batch, ctx_list, even_split=True):
    """:func:`split_batch` keeping RecordIO padding (the ``batch_fn`` of training)."""
    return split_batch(batch, ctx_list, even_split, drop_pad=False)


def _encode_jpeg(image, quality=95):
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format='JPEG', quality=quality)
    return buf.getvalue()


def write_tiny_recordio(prefix, num_images=32, classes=4, size=64, seed=0):
    """Write ``prefix.rec``, ``prefix.idx`` and ``prefix.lst`` with synthetic, learnable images.

    Image ``i`` has label ``i % classes``; each class has its own mean colour plus noise, so a
    small network can learn it in a few steps. Returns ``(rec_path, idx_path, labels)``.
    """
    if num_images < 1 or classes < 1 or size < 8:
        raise ValueError('need num_images >= 1, classes >= 1 and size >= 8, got %r, %r, %r'
                         % (num_images, classes, size))
    rng = np.random.RandomState(seed)
    palette = rng.randint(0, 256, size=(classes, 3))
    rec_path, idx_path = prefix + '.rec', prefix + '.idx'
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    writer = mx.recordio.MXIndexedRecordIO(idx_path, rec_path, 'w')
    labels = []
    lines = []
    try:
        for i in range(num_images):
            label = i % classes
            noise = rng.randint(-40, 41, size=(size, size, 3))
            image = np.clip(palette[label] + noise, 0, 255).astype(np.uint8)
            header = mx.recordio.IRHeader(0, float(label), i, 0)
            writer.write_idx(i, mx.recordio.pack(header, _encode_jpeg(image)))
            labels.append(label)
            lines.append('%d\t%f\timg_%05d.jpg\n' % (i, float(label), i))
    finally:
        writer.close()
    with open(prefix + '.lst', 'w') as f:
        f.writelines(lines)
    return rec_path, idx_path, labels
