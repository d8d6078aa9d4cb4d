"""AutoAugment against the original's outputs and against hand-built expectations.

* ``tests/data/autoaugment/golden.npz``: outputs of the original autogluon 0.0.14
  ``AugmentationBlock(autoaug_{cifar10,imagenet}_policies())`` for 75 (image, seed) cases that pick
  every sub-policy, recorded by ``tests/data/autoaugment/make_golden.py`` (Pillow 13.0.0);
* every operation on images whose result is known by construction;
* the level -> magnitude mapping computed by hand from fast-autoaugment's formulas;
* the order of the random draws, replayed with an independent ``random.Random``.
"""
import os
import random

import mxnet as mx
import numpy as np
import PIL
import pytest
from PIL import Image

from gluon_aff.data import AUTOAUGMENT_POLICIES, AutoAugment, cifar_transforms, CIFAR_MEAN, \
    CIFAR_STD
from gluon_aff.data.autoaugment import AUTOAUGMENT_OPS, CUTOUT_FILL, autoaugment_magnitude

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'autoaugment',
                      'golden.npz')


def _seed(seed):
    random.seed(seed)
    np.random.seed(seed)


def _apply(name, image, magnitude, seed=0):
    _seed(seed)
    return np.asarray(AUTOAUGMENT_OPS[name][0](Image.fromarray(image), magnitude))


def _sign_draw(seed):
    """The sign an operation draws first after ``_seed(seed)``: -1 if random() > 0.5."""
    return -1 if random.Random(seed).random() > 0.5 else 1


def _seed_with_sign(sign):
    return next(s for s in range(100) if _sign_draw(s) == sign)


def test_golden_outputs_of_the_original():
    golden = np.load(GOLDEN)
    augmenters = {name: AutoAugment(name) for name in ('cifar10', 'imagenet')}
    cases = len(golden['seed'])
    assert cases == 75
    chosen = set()
    for k in range(cases):
        policy, seed = str(golden['policy'][k]), int(golden['seed'][k])
        image = golden['image_%d' % golden['image'][k]]
        _seed(seed)
        out = augmenters[policy](mx.nd.array(image, dtype='uint8'))
        assert out.dtype == np.uint8 and out.shape == image.shape
        np.testing.assert_array_equal(
            out.asnumpy(), golden['output_%d' % k],
            err_msg='case %d; the golden outputs were recorded with Pillow 13.0.0, this is %s'
            % (k, PIL.__version__))
        # the same number of draws from both generators
        assert random.random() == golden['py_next'][k]
        assert np.random.random_sample() == golden['np_next'][k]
        chosen.add((policy, random.Random(seed).choice(range(25))))
    assert len(chosen) == 50    # every sub-policy of both tables


def test_policy_tables():
    for name, table in AUTOAUGMENT_POLICIES.items():
        assert len(table) == 25 and all(len(sub) == 2 for sub in table)
        for sub in table:
            for op, prob, level in sub:
                assert op in AUTOAUGMENT_OPS and 0.0 <= prob <= 1.0 and 0 <= level <= 9
    cifar_ops = {op for sub in AUTOAUGMENT_POLICIES['cifar10'] for op, _, _ in sub}
    assert cifar_ops == {'Invert', 'Contrast', 'Rotate', 'TranslateXAbs', 'Sharpness', 'ShearY',
                         'TranslateYAbs', 'AutoContrast', 'Equalize', 'Posterize2', 'Color',
                         'Brightness', 'Solarize'}          # no Cutout in either table
    assert AUTOAUGMENT_POLICIES['cifar10'][0] == (('Invert', 0.1, 7), ('Contrast', 0.2, 6))
    assert AUTOAUGMENT_POLICIES['imagenet'][0] == (('Posterize2', 0.4, 8), ('Rotate', 0.6, 9))
    # every magnitude the operations use is inside its range
    for table in AUTOAUGMENT_POLICIES.values():
        for sub in table:
            for op, _, level in sub:
                _, low, high = AUTOAUGMENT_OPS[op]
                if op not in ('Invert', 'Equalize', 'AutoContrast'):     # no magnitude
                    assert low <= autoaugment_magnitude(op, level) <= high


@pytest.mark.parametrize('name,level,expected', [
    ('ShearY', 8, 8 * 0.3 / 10), ('ShearX', 5, 0.15), ('Rotate', 2, 6), ('Rotate', 9, 27),
    ('TranslateXAbs', 9, 9), ('TranslateYAbs', 3, 3),        # pixels = level (no mapping)
    ('Solarize', 2, 256 - 51), ('Solarize', 8, 256 - 204),
    ('Posterize2', 7, 4 - 2), ('Posterize2', 8, 4 - 3),
    ('Sharpness', 1, 0.28), ('Contrast', 6, 1.18), ('Color', 0, 0.1), ('Brightness', 7, 1.36),
    ('Invert', 7, 7), ('Equalize', 2, 2), ('CutoutAbs', 5, 10)])
def test_level_to_magnitude_by_hand(name, level, expected):
    assert autoaugment_magnitude(name, level) == pytest.approx(expected, abs=1e-12)


def test_magnitude_keeps_the_originals_floating_point_round_trip():
    # 0.24 -> (0.24 + 0.3) / 0.6 -> * 0.6 - 0.3: not exactly 0.24 in binary floating point
    assert autoaugment_magnitude('ShearY', 8) == ((0.24 + 0.3) / 0.6) * 0.6 - 0.3
    with pytest.raises(ValueError, match='unknown AutoAugment operation'):
        autoaugment_magnitude('Blur', 3)


def _gradient(h=16, w=16):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 16, yy * 16, (xx + yy) * 8], -1).astype(np.uint8)


def test_pixel_operations():
    img = _gradient()
    np.testing.assert_array_equal(_apply('Invert', img, 0), 255 - img)
    solarized = _apply('Solarize', img, 128)
    np.testing.assert_array_equal(solarized, np.where(img >= 128, 255 - img, img))
    for bits in (1, 2, 4):
        mask = (0xFF << (8 - bits)) & 0xFF
        np.testing.assert_array_equal(_apply('Posterize2', img, bits), img & mask)
    np.testing.assert_array_equal(_apply('Posterize', img, 6.7), img & 0xFC)   # int(6.7) = 6
    # equalize: a histogram already flat over 0..255 is left alone
    flat = np.arange(256, dtype=np.uint8).reshape(16, 16)
    flat = np.stack([flat, flat.T, flat[::-1]], -1)
    np.testing.assert_array_equal(_apply('Equalize', flat, 0), flat)
    # autocontrast stretches each channel's [min, max] to [0, 255]
    low = (50 + _gradient() // 8).astype(np.uint8)
    out = _apply('AutoContrast', low, 0)
    assert (out.reshape(-1, 3).min(0) == 0).all() and (out.reshape(-1, 3).max(0) == 255).all()
    assert (np.argsort(low[..., 0].ravel(), kind='stable') ==
            np.argsort(out[..., 0].ravel(), kind='stable')).all()
    # enhancers: factor 1 is the identity, brightness 0.5 halves
    for name in ('Contrast', 'Color', 'Brightness', 'Sharpness'):
        np.testing.assert_array_equal(_apply(name, img, 1.0), img)
    assert np.abs(_apply('Brightness', img, 0.5).astype(int) - img / 2.0).max() <= 1
    grey = np.full((8, 8, 3), 77, np.uint8)
    np.testing.assert_array_equal(_apply('Contrast', grey, 1.9), grey)


@pytest.mark.parametrize('sign', [1, -1])
def test_translate_abs_shifts_by_whole_pixels_with_the_drawn_sign(sign):
    img = _gradient(12, 14)
    seed = _seed_with_sign(sign)
    out = _apply('TranslateXAbs', img, 3, seed)
    # output(x, y) = input(x + 3 * sign, y); black where that falls outside
    if sign > 0:
        np.testing.assert_array_equal(out[:, :-3], img[:, 3:])
        assert not out[:, -3:].any()
    else:
        np.testing.assert_array_equal(out[:, 3:], img[:, :-3])
        assert not out[:, :3].any()
    out = _apply('TranslateYAbs', img, 2, seed)
    rows = (slice(None, -2), slice(2, None)) if sign > 0 else (slice(2, None), slice(None, -2))
    np.testing.assert_array_equal(out[rows[0]], img[rows[1]])


@pytest.mark.parametrize('sign', [1, -1])
def test_shear_moves_a_vertical_line(sign):
    img = np.zeros((21, 21, 3), np.uint8)
    img[:, 10] = 255
    out = _apply('ShearX', img, 0.2, _seed_with_sign(sign))
    # output(x, y) = input(x + v y, y): the line sits at x = 10 - v y
    for y in (0, 5, 10, 15, 20):
        peak = int(np.argmax(out[y, :, 0].astype(int)))
        assert abs(peak - (10 - sign * 0.2 * y)) <= 0.5 + 1e-9, (y, peak)


@pytest.mark.parametrize('sign', [1, -1])
def test_rotate_turns_a_point_about_the_centre(sign):
    img = np.zeros((33, 33, 3), np.uint8)
    img[15:18, 25:28] = 255                       # 3x3 block 10 px right of the centre pixel
    out = _apply('Rotate', img, 30, _seed_with_sign(sign))
    ys, xs = np.nonzero(out[..., 0])
    angle = np.deg2rad(30 * sign)                 # counter-clockwise, y pointing down
    assert abs(xs.mean() - (16 + 10 * np.cos(angle))) < 0.75
    assert abs(ys.mean() - (16 - 10 * np.sin(angle))) < 0.75
    np.testing.assert_array_equal(_apply('Rotate', _gradient(), 0), _gradient())


def test_cutout_region_fill_and_numpy_draws():
    img = np.zeros((32, 32, 3), np.uint8)
    np.random.seed(3)
    cx, cy = 32 + (1 - 32) * np.random.random_sample(2)   # uniform(low=32, high=1)
    out = _apply('CutoutAbs', img, 8, seed=3)
    x0, y0 = int(max(0, cx - 4)), int(max(0, cy - 4))
    x1, y1 = min(32, x0 + 8), min(32, y0 + 8)     # PIL rectangles include both corners
    painted = np.zeros((32, 32), bool)
    painted[y0:int(y1) + 1, x0:int(x1) + 1] = True
    np.testing.assert_array_equal(out[painted], np.tile(CUTOUT_FILL, (painted.sum(), 1)))
    assert not out[~painted].any()
    # Cutout: a fraction of the width
    np.testing.assert_array_equal(_apply('Cutout', img, 0.2, seed=3),
                                  _apply('CutoutAbs', img, 0.2 * 32, seed=3))
    np.testing.assert_array_equal(_apply('Cutout', img, 0.0), img)


def test_out_of_range_magnitudes_are_rejected():
    with pytest.raises(ValueError, match='ShearX magnitude 0.5'):
        _apply('ShearX', _gradient(), 0.5)
    with pytest.raises(ValueError, match=r'Rotate magnitude -45 is outside \[-30, 30\]'):
        _apply('Rotate', _gradient(), -45)


def test_draw_order_replayed_independently():
    """Sub-policy choice, then per operation one probability draw and its own draws."""
    table = AUTOAUGMENT_POLICIES['cifar10']
    sign_ops = {'Rotate', 'TranslateXAbs', 'TranslateYAbs', 'ShearY', 'ShearX'}
    aug = AutoAugment('cifar10')
    calls = []

    def recorder(name):
        def op(img, magnitude):
            calls.append((name, magnitude))
            if name in sign_ops:
                random.random()
            return img
        return op

    aug.sub_policies = [[(recorder(n), p, autoaugment_magnitude(n, l)) for n, p, l in sub]
                        for sub in table]
    image = mx.nd.array(_gradient(8, 8), dtype='uint8')
    for seed in range(200):
        calls.clear()
        _seed(seed)
        aug(image)
        rng = random.Random(seed)
        sub = table[rng.choice(range(len(table)))]
        expected = []
        for name, prob, level in sub:
            if rng.random() <= prob:
                expected.append((name, autoaugment_magnitude(name, level)))
                if name in sign_ops:
                    rng.random()
        assert calls == expected, seed
        assert random.random() == rng.random()


def test_call_contract():
    aug = AutoAugment('imagenet')
    assert repr(aug) == "AutoAugment(policy='imagenet', 25 sub-policies)"
    out = aug(np.zeros((10, 12, 3), np.uint8))
    assert isinstance(out, mx.nd.NDArray) and out.shape == (10, 12, 3) and out.dtype == np.uint8
    for bad in (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8),
                np.zeros((8, 8, 1), np.uint8)):
        with pytest.raises(ValueError, match=r'one \(H, W, 3\) uint8 image'):
            aug(bad)
    with pytest.raises(ValueError, match='unknown AutoAugment policy'):
        AutoAugment('svhn')
    custom = AutoAugment([[('Invert', 1.0, 0), ('Invert', 0.0, 0)]])
    _seed(0)
    np.testing.assert_array_equal(custom(_gradient()).asnumpy(), 255 - _gradient())


def test_cifar_transforms_apply_it_before_the_pad_crop():
    invert = AutoAugment([[('Invert', 1.0, 0), ('Invert', 0.0, 0)]])
    steps = cifar_transforms(train=True, auto_augment=invert)
    assert steps[0] is invert
    assert isinstance(cifar_transforms(True, auto_augment=True)[0], AutoAugment)
    assert cifar_transforms(True, auto_augment=True)[0].policy_name == 'cifar10'
    assert not any(isinstance(t, AutoAugment) for t in cifar_transforms(True))
    with pytest.raises(ValueError, match='training transform'):
        cifar_transforms(False, auto_augment=True)
    image = mx.nd.array(np.full((32, 32, 3), 40, np.uint8), dtype='uint8')
    mean, std = np.array(CIFAR_MEAN)[:, None], np.array(CIFAR_STD)[:, None]
    padding, content = (0 - mean) / std, (215 / 255. - mean) / std
    seen = set()
    for seed in range(40):
        _seed(seed)
        mx.random.seed(seed)
        out = steps(image).asnumpy().reshape(3, -1)
        # inverted pixels 255 - 40 = 215; the crop's zero padding is added after the inversion
        is_pad = np.isclose(out, padding, atol=1e-5).all(0)
        assert np.allclose(out[:, ~is_pad], content, atol=1e-5)
        seen.add(bool(is_pad.any()))
    assert True in seen          # the crop offset shows padding for most seeds
