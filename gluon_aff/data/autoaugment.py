"""AutoAugment as the original open-aff code applied it (Cubuk et al., *AutoAugment: Learning
Augmentation Strategies from Data*, CVPR 2019).

The final open-aff ``train_cifar.py`` ran with ``--auto_aug``: its first training transform was
autogluon's ``AugmentationBlock(autoaug_cifar10_policies())`` (``autogluon.utils.augment``,
identical in autogluon 0.0.12-0.0.15, 2020; itself adapted from kakaobrain's fast-autoaugment),
before the pad-4 random crop. autogluon no longer ships it and never did for Python 3.11, so it
is reimplemented here, draw for draw:

1. the HWC uint8 image becomes a PIL ``RGB`` image;
2. one sub-policy is picked with ``random.choice`` (Python's ``random`` module);
3. for each of its two operations, ``random.random()`` is drawn and the operation is skipped
   when the draw exceeds its probability;
4. an applied operation gets the magnitude that fast-autoaugment's level mapping gives its
   level (0-10), passed through the normalisation ``(m - low) / (high - low)`` and back exactly
   as the original did it in floating point; shears, translations and rotations then draw
   ``random.random() > 0.5`` to flip the sign; Cutout draws its centre from NumPy's global RNG.

Quirks kept: the CIFAR translations are ``TranslateXAbs``/``TranslateYAbs`` with the level used as
a pixel count (0-10 px; the level mapping only knows ``TranslateX``/``TranslateY``);
``Posterize2`` keeps ``4 - int(level * 4 / 10)`` bits; affine operations resample bicubically
with a black fill, ``Rotate`` uses PIL's default nearest-neighbour resampling; Cutout
(``CutoutAbs``) draws its centre with ``np.random.uniform(w)``, i.e. from ``[1, w]`` (``w`` is
NumPy's ``low``), paints ``(125, 123, 114)`` and, like the paper's CIFAR policy in autogluon, is
not part of either policy table.

Randomness: Python's ``random`` and NumPy's global RNG, nothing else. A ``DataLoader`` with
``num_workers > 0`` forks worker processes that start from copies of the parent's RNG states
(MXNet 1.9.1 does not reseed them, nor did the original's 96 workers), so the workers repeat each
other's draws unless each is seeded; ``num_workers=0`` keeps a run reproducible from its seed.

>>> aug = AutoAugment('cifar10')
>>> out = aug(mx.nd.array(image, dtype='uint8'))   # (32, 32, 3) uint8 -> (32, 32, 3) uint8
"""
import random

import numpy as np
from mxnet import nd
from mxnet.gluon import Block
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

__all__ = ['AutoAugment', 'autoaugment_step', 'AUTOAUGMENT_POLICIES', 'AUTOAUGMENT_OPS', 'autoaugment_magnitude',
           'CUTOUT_FILL']

#: Cutout's fill colour (about the CIFAR-10 mean in 0-255 units)
CUTOUT_FILL = (125, 123, 114)
_LEVEL_MAX = 10
_RESAMPLE = Image.BICUBIC


# ---------------------------------------------------------------------------- operations
def _check(name, value, low, high):
    if not low <= value <= high:
        raise ValueError('AutoAugment %s magnitude %r is outside [%s, %s]'
                         % (name, value, low, high))


def _signed(value):
    """The original's random mirror of a magnitude: one ``random.random()`` draw."""
    return -value if random.random() > 0.5 else value


def _affine(img, coefficients):
    return img.transform(img.size, Image.AFFINE, coefficients, resample=_RESAMPLE)


def shear_x(img, v):
    _check('ShearX', v, -0.3, 0.3)
    return _affine(img, (1, _signed(v), 0, 0, 1, 0))


def shear_y(img, v):
    _check('ShearY', v, -0.3, 0.3)
    return _affine(img, (1, 0, 0, _signed(v), 1, 0))


def translate_x(img, v):
    """Shift by ``v`` times the width."""
    _check('TranslateX', v, -0.45, 0.45)
    return _affine(img, (1, 0, _signed(v) * img.size[0], 0, 1, 0))


def translate_y(img, v):
    """Shift by ``v`` times the height."""
    _check('TranslateY', v, -0.45, 0.45)
    return _affine(img, (1, 0, 0, 0, 1, _signed(v) * img.size[1]))


def translate_x_abs(img, v):
    """Shift by ``v`` pixels."""
    _check('TranslateXAbs', v, 0, 10)
    return _affine(img, (1, 0, _signed(v), 0, 1, 0))


def translate_y_abs(img, v):
    """Shift by ``v`` pixels."""
    _check('TranslateYAbs', v, 0, 10)
    return _affine(img, (1, 0, 0, 0, 1, _signed(v)))


def rotate(img, v):
    """Rotate by ``v`` degrees (counter-clockwise before the random sign), nearest neighbour."""
    _check('Rotate', v, -30, 30)
    return img.rotate(_signed(v))


def auto_contrast(img, _):
    return ImageOps.autocontrast(img)


def invert(img, _):
    return ImageOps.invert(img)


def equalize(img, _):
    return ImageOps.equalize(img)


def solarize(img, v):
    """Invert the pixel values at or above ``v``."""
    _check('Solarize', v, 0, 256)
    return ImageOps.solarize(img, v)


def posterize(img, v):
    """Keep the ``int(v)`` highest bits of every channel."""
    return ImageOps.posterize(img, int(v))


def posterize2(img, v):
    _check('Posterize2', v, 0, 4)
    return ImageOps.posterize(img, int(v))


def _enhancer(name, enhancer):
    def enhance(img, v):
        _check(name, v, 0.1, 1.9)
        return enhancer(img).enhance(v)
    enhance.__name__ = name.lower()
    return enhance


def cutout_abs(img, v):
    """Paint a ``v``-pixel square (clipped at the borders) with :data:`CUTOUT_FILL`."""
    if v < 0:
        return img
    w, h = img.size
    x0 = np.random.uniform(w)   # sic: low=w, high=1 -> a centre in [1, w]
    y0 = np.random.uniform(h)
    x0 = int(max(0, x0 - v / 2.))
    y0 = int(max(0, y0 - v / 2.))
    box = (x0, y0, min(w, x0 + v), min(h, y0 + v))
    img = img.copy()
    ImageDraw.Draw(img).rectangle(box, CUTOUT_FILL)
    return img


def cutout(img, v):
    """:func:`cutout_abs` with ``v`` a fraction of the width."""
    _check('Cutout', v, 0.0, 0.2)
    if v <= 0.:
        return img
    return cutout_abs(img, v * img.size[0])


#: name -> (operation(img, magnitude), low, high): the operations and magnitude ranges of the
#: original's table (fast-autoaugment's ``augment_list``)
AUTOAUGMENT_OPS = {
    'ShearX': (shear_x, -0.3, 0.3),
    'ShearY': (shear_y, -0.3, 0.3),
    'TranslateX': (translate_x, -0.45, 0.45),
    'TranslateY': (translate_y, -0.45, 0.45),
    'Rotate': (rotate, -30, 30),
    'AutoContrast': (auto_contrast, 0, 1),
    'Invert': (invert, 0, 1),
    'Equalize': (equalize, 0, 1),
    'Solarize': (solarize, 0, 256),
    'Posterize': (posterize, 4, 8),
    'Contrast': (_enhancer('Contrast', ImageEnhance.Contrast), 0.1, 1.9),
    'Color': (_enhancer('Color', ImageEnhance.Color), 0.1, 1.9),
    'Brightness': (_enhancer('Brightness', ImageEnhance.Brightness), 0.1, 1.9),
    'Sharpness': (_enhancer('Sharpness', ImageEnhance.Sharpness), 0.1, 1.9),
    'Cutout': (cutout, 0, 0.2),
    'CutoutAbs': (cutout_abs, 0, 20),
    'Posterize2': (posterize2, 0, 4),
    'TranslateXAbs': (translate_x_abs, 0, 10),
    'TranslateYAbs': (translate_y_abs, 0, 10),
}


# ---------------------------------------------------------------------------- levels
def _scaled(level, maximum):
    return float(level) * maximum / _LEVEL_MAX


def _scaled_int(level, maximum):
    return int(_scaled(level, maximum))


#: AutoAugment level (0-10) -> magnitude (fast-autoaugment's mapping); other names: the level
_LEVELS = {
    'ShearX': lambda level: _scaled(level, 0.3),
    'ShearY': lambda level: _scaled(level, 0.3),
    'TranslateX': lambda level: _scaled_int(level, 10),
    'TranslateY': lambda level: _scaled_int(level, 10),
    'Rotate': lambda level: _scaled_int(level, 30),
    'Solarize': lambda level: 256 - _scaled_int(level, 256),
    'Posterize2': lambda level: 4 - _scaled_int(level, 4),
    'Contrast': lambda level: _scaled(level, 1.8) + .1,
    'Color': lambda level: _scaled(level, 1.8) + .1,
    'Brightness': lambda level: _scaled(level, 1.8) + .1,
    'Sharpness': lambda level: _scaled(level, 1.8) + .1,
    'CutoutAbs': lambda level: _scaled_int(level, 20),
}


def autoaugment_magnitude(name, level):
    """The magnitude operation ``name`` gets for ``level``, bit for bit as the original: the
    level mapping, then the round trip through ``[0, 1]`` (``(m - low) / (high - low)``, then
    ``f * (high - low) + low``) that autogluon's policy normalisation made."""
    if name not in AUTOAUGMENT_OPS:
        raise ValueError('unknown AutoAugment operation %r; known: %s'
                         % (name, ', '.join(sorted(AUTOAUGMENT_OPS))))
    _, low, high = AUTOAUGMENT_OPS[name]
    value = _LEVELS.get(name, lambda level: level)(level)
    fraction = float(value - low) / (high - low)
    return fraction * (high - low) + low


# ---------------------------------------------------------------------------- policies
#: sub-policies ``((op, probability, level), (op, probability, level))`` of the AutoAugment
#: paper as fast-autoaugment/autogluon wrote them (``autoaug_cifar10_policies``,
#: ``autoaug_imagenet_policies``)
AUTOAUGMENT_POLICIES = {
    'cifar10': (
        (('Invert', 0.1, 7), ('Contrast', 0.2, 6)),
        (('Rotate', 0.7, 2), ('TranslateXAbs', 0.3, 9)),
        (('Sharpness', 0.8, 1), ('Sharpness', 0.9, 3)),
        (('ShearY', 0.5, 8), ('TranslateYAbs', 0.7, 9)),
        (('AutoContrast', 0.5, 8), ('Equalize', 0.9, 2)),
        (('ShearY', 0.2, 7), ('Posterize2', 0.3, 7)),
        (('Color', 0.4, 3), ('Brightness', 0.6, 7)),
        (('Sharpness', 0.3, 9), ('Brightness', 0.7, 9)),
        (('Equalize', 0.6, 5), ('Equalize', 0.5, 1)),
        (('Contrast', 0.6, 7), ('Sharpness', 0.6, 5)),
        (('Color', 0.7, 7), ('TranslateXAbs', 0.5, 8)),
        (('Equalize', 0.3, 7), ('AutoContrast', 0.4, 8)),
        (('TranslateYAbs', 0.4, 3), ('Sharpness', 0.2, 6)),
        (('Brightness', 0.9, 6), ('Color', 0.2, 6)),
        (('Solarize', 0.5, 2), ('Invert', 0.0, 3)),
        (('Equalize', 0.2, 0), ('AutoContrast', 0.6, 0)),
        (('Equalize', 0.2, 8), ('Equalize', 0.6, 4)),
        (('Color', 0.9, 9), ('Equalize', 0.6, 6)),
        (('AutoContrast', 0.8, 4), ('Solarize', 0.2, 8)),
        (('Brightness', 0.1, 3), ('Color', 0.7, 0)),
        (('Solarize', 0.4, 5), ('AutoContrast', 0.9, 3)),
        (('TranslateYAbs', 0.9, 9), ('TranslateYAbs', 0.7, 9)),
        (('AutoContrast', 0.9, 2), ('Solarize', 0.8, 3)),
        (('Equalize', 0.8, 8), ('Invert', 0.1, 3)),
        (('TranslateYAbs', 0.7, 9), ('AutoContrast', 0.9, 1)),
    ),
    'imagenet': (
        (('Posterize2', 0.4, 8), ('Rotate', 0.6, 9)),
        (('Solarize', 0.6, 5), ('AutoContrast', 0.6, 5)),
        (('Equalize', 0.8, 8), ('Equalize', 0.6, 3)),
        (('Posterize2', 0.6, 7), ('Posterize2', 0.6, 6)),
        (('Equalize', 0.4, 7), ('Solarize', 0.2, 4)),
        (('Equalize', 0.4, 4), ('Rotate', 0.8, 8)),
        (('Solarize', 0.6, 3), ('Equalize', 0.6, 7)),
        (('Posterize2', 0.8, 5), ('Equalize', 1.0, 2)),
        (('Rotate', 0.2, 3), ('Solarize', 0.6, 8)),
        (('Equalize', 0.6, 8), ('Posterize2', 0.4, 6)),
        (('Rotate', 0.8, 8), ('Color', 0.4, 0)),
        (('Rotate', 0.4, 9), ('Equalize', 0.6, 2)),
        (('Equalize', 0.0, 7), ('Equalize', 0.8, 8)),
        (('Invert', 0.6, 4), ('Equalize', 1.0, 8)),
        (('Color', 0.6, 4), ('Contrast', 1.0, 8)),
        (('Rotate', 0.8, 8), ('Color', 1.0, 0)),
        (('Color', 0.8, 8), ('Solarize', 0.8, 7)),
        (('Sharpness', 0.4, 7), ('Invert', 0.6, 8)),
        (('ShearX', 0.6, 5), ('Equalize', 1.0, 9)),
        (('Color', 0.4, 0), ('Equalize', 0.6, 3)),
        (('Equalize', 0.4, 7), ('Solarize', 0.2, 4)),
        (('Solarize', 0.6, 5), ('AutoContrast', 0.6, 5)),
        (('Invert', 0.6, 4), ('Equalize', 1.0, 8)),
        (('Color', 0.6, 4), ('Contrast', 1.0, 8)),
        (('Equalize', 0.8, 8), ('Equalize', 0.6, 3)),
    ),
}


class AutoAugment(Block):
    """AutoAugment of one image, draw for draw as the original (see the module docstring).

    Parameters
    ----------
    policy : str or sequence, default 'cifar10'
        ``'cifar10'`` (the original's CIFAR runs) or ``'imagenet'`` (its image-folder ImageNet
        path), or sub-policies as ``[[(op, probability, level), ...], ...]`` with the operations
        of :data:`AUTOAUGMENT_OPS` and levels 0-10.

    Inputs: an ``(H, W, 3)`` uint8 ``NDArray`` (or NumPy array). Output: the augmented image as
    an ``(H, W, 3)`` uint8 ``NDArray`` on the CPU (the original returned the same values as
    float32, which the following crop and ``ToTensor`` treat alike).
    """

    def __init__(self, policy='cifar10'):
        super(AutoAugment, self).__init__()
        if isinstance(policy, str):
            if policy not in AUTOAUGMENT_POLICIES:
                raise ValueError('unknown AutoAugment policy %r; choose one of %s or give '
                                 'sub-policies' % (policy, sorted(AUTOAUGMENT_POLICIES)))
            self.policy_name, table = policy, AUTOAUGMENT_POLICIES[policy]
        else:
            self.policy_name, table = 'custom', policy
        self.sub_policies = [[(AUTOAUGMENT_OPS[name][0], float(prob),
                               autoaugment_magnitude(name, level))
                              for name, prob, level in sub] for sub in table]
        if not self.sub_policies:
            raise ValueError('AutoAugment needs at least one sub-policy')

    def forward(self, x):
        array = x.asnumpy() if isinstance(x, nd.NDArray) else np.asarray(x)
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise ValueError('AutoAugment takes one (H, W, 3) uint8 image, got shape %s and '
                             'dtype %s' % (array.shape, array.dtype))
        img = Image.fromarray(array)
        for operation, probability, magnitude in random.choice(self.sub_policies):
            if random.random() > probability:
                continue
            img = operation(img.copy(), magnitude)
        return nd.array(np.asarray(img), dtype=np.uint8)

    def __repr__(self):
        return '%s(policy=%r, %d sub-policies)' % (type(self).__name__, self.policy_name,
                                                    len(self.sub_policies))


def autoaugment_step(spec, default_policy, train):
    """The AutoAugment transform a data pipeline's ``auto_augment`` argument asks for.

    ``spec``: falsy (none: ``None``), ``True`` (``default_policy``, the original's ``--auto_aug``
    on that path), a policy name or sub-policies, or an :class:`AutoAugment`. AutoAugment is a
    training transform: asking for it with ``train=False`` raises ``ValueError``.
    """
    if not spec:
        return None
    if not train:
        raise ValueError('AutoAugment is a training transform: the original never augmented '
                         'its test images')
    return spec if isinstance(spec, AutoAugment) else \
        AutoAugment(default_policy if spec is True else spec)
