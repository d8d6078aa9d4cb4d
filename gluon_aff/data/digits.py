"""A tiny real image data set that installs with a package: scikit-learn's 8x8 digits.

Used by ``scripts/demo.py`` (the README's first command) to run the real CIFAR training code path
in a minute on a CPU: the 1,797 grey 8x8 images (values 0..16) are scaled to 0..255, enlarged 4x
by pixel repetition to 32x32 and repeated over 3 channels, i.e. shaped exactly like CIFAR images.

They are normalised with their own mean/std (:func:`digits_transforms`), not CIFAR's: the hosts'
stem ``BatchNorm(scale=False, center=False)`` never updates its running statistics in MXNet 1.x
(its input needs no gradient and it has no trainable parameter, so the op is not recorded), hence
it normalises per batch in training but is (almost) the identity at test time. Inputs that are
already zero-mean/unit-variance make both the same; CIFAR's own normalisation does that for
CIFAR images.
"""
import numpy as np
from mxnet import gluon, nd
from mxnet.gluon.data.vision import transforms
from gluoncv.data import transforms as gcv_transforms

__all__ = ['load_digits_32', 'digits_datasets', 'digits_transforms', 'DIGIT_CLASSES',
           'DIGITS_MEAN', 'DIGITS_STD']

DIGIT_CLASSES = 10
#: mean and std of all enlarged digit images scaled to [0, 1] (same on every channel)
DIGITS_MEAN, DIGITS_STD = 0.3053, 0.3759


def _sklearn(module):
    """``sklearn.<module>``, or a one-line :class:`~gluon_aff.errors.UserError` naming the extra
    that installs scikit-learn."""
    import importlib
    try:
        return importlib.import_module('sklearn.' + module)
    except ImportError as err:
        from ..errors import UserError
        raise UserError('the digits data set needs scikit-learn, which is not installed: pip '
                        'install -e ".[demo]" (or bash bootstrap.sh setup)') from err


def load_digits_32():
    """All digits as ``(images uint8 (N, 32, 32, 3), labels int32 (N,))``."""
    load_digits = _sklearn('datasets').load_digits
    digits = load_digits()
    small = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)       # (N, 8, 8)
    big = small.repeat(4, axis=1).repeat(4, axis=2)                          # (N, 32, 32)
    return np.ascontiguousarray(np.stack([big] * 3, axis=-1)), digits.target.astype(np.int32)


def digits_datasets(val_fraction=0.25, seed=0):
    """Stratified train/val split of :func:`load_digits_32` as two gluon ``ArrayDataset``s.

    Parameters
    ----------
    val_fraction : float, default 0.25
        Share of images held out for validation.
    seed : int, default 0
        Seed of the split.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError('val_fraction must be in (0, 1), got %r' % (val_fraction,))
    train_test_split = _sklearn('model_selection').train_test_split
    images, labels = load_digits_32()
    train_x, val_x, train_y, val_y = train_test_split(
        images, labels, test_size=val_fraction, random_state=seed, stratify=labels)
    return (gluon.data.ArrayDataset(nd.array(train_x, dtype=np.uint8), train_y),
            gluon.data.ArrayDataset(nd.array(val_x, dtype=np.uint8), val_y))


def digits_transforms(train):
    """Pad-2 random crop (no flip: digits are not mirror-symmetric) in training, then
    ``ToTensor`` and normalisation with :data:`DIGITS_MEAN`/:data:`DIGITS_STD`."""
    steps = [gcv_transforms.RandomCrop(32, pad=2)] if train else []
    steps += [transforms.ToTensor(), transforms.Normalize((DIGITS_MEAN,) * 3, (DIGITS_STD,) * 3)]
    return transforms.Compose(steps)
