"""Record golden outputs of the original AutoAugment (autogluon 0.0.14) into golden.npz.

Run by hand, outside CI, with the original's source at hand:

    pip download --no-deps --only-binary :all: --python-version 3.7 autogluon==0.0.14 -d /tmp/ag
    cd /tmp/ag && unzip -q autogluon-0.0.14-py3-none-any.whl 'autogluon/utils/*'
    python tests/data/autoaugment/make_golden.py /tmp/ag

Only ``autogluon/utils/augment.py`` and ``pil_transforms.py`` are loaded (as a bare package, so
autogluon's own ``__init__`` and its dependencies are not needed). ``augment.py`` is the same
file in autogluon 0.0.12-0.0.15 (2020), the versions open-aff's final code ran with.

For each case: ``random.seed(seed); np.random.seed(seed)``, then
``AugmentationBlock(autoaug_<policy>_policies())(image)``; stored are the output and one
``random.random()`` and one ``np.random.random_sample()`` drawn right after it (they show that
the same number of draws was consumed). Keys: ``policy``, ``image`` (index), ``seed``,
``py_next``, ``np_next`` per case, ``image_<i>`` the inputs, ``output_<k>`` case k's output.
Seeds are chosen so that every sub-policy is picked and
most cases apply both of its operations.
"""
import importlib
import importlib.util
import os
import random
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def load_original(root):
    folder = os.path.join(root, 'autogluon', 'utils')
    package = types.ModuleType('original_ag_utils')
    package.__path__ = [folder]
    sys.modules['original_ag_utils'] = package
    return importlib.import_module('original_ag_utils.augment')


def test_images():
    """Six 32x32 and two 40x48 images: noise, gradients, low contrast, flat, blocks, disc."""
    rs = np.random.RandomState(2020)
    yy, xx = np.mgrid[0:32, 0:32]
    small = [
        rs.randint(0, 256, (32, 32, 3)),
        np.stack([xx * 8, yy * 8, (xx + yy) * 4], -1),
        rs.randint(100, 131, (32, 32, 3)),
        np.ones((32, 32, 3)) * (200, 30, 90),
        np.kron(rs.randint(0, 256, (8, 8, 3)), np.ones((4, 4, 1))),
        np.where(((xx - 12) ** 2 + (yy - 18) ** 2 < 80)[..., None], (250, 240, 10), (20, 60, 160)),
    ]
    yy, xx = np.mgrid[0:40, 0:48]
    large = [np.stack([xx * 5, yy * 6, 255 - xx * 5], -1),
             np.kron(rs.randint(0, 256, (5, 6, 3)), np.ones((8, 8, 1)))]
    return [np.clip(i, 0, 255).astype(np.uint8) for i in small + large]


def pick_seeds(policies, per_policy=2):
    """Seeds whose sub-policy choice covers every sub-policy, preferring both ops applied."""
    chosen = {}
    for seed in range(20000):
        random.seed(seed)
        index = random.choice(range(len(policies)))   # the same draw as choice(policies)
        applied = tuple(random.random() <= pr for _, pr, _ in policies[index])
        chosen.setdefault(index, {}).setdefault(applied, seed)
    seeds = []
    for index in range(len(policies)):
        options = chosen[index]
        order = [(True, True), (True, False), (False, True), (False, False)]
        seeds += [options[a] for a in order if a in options][:per_policy]
    return seeds


def main(root):
    import mxnet as mx
    original = load_original(root)
    images = test_images()
    cases = {'policy': [], 'image': [], 'seed': [], 'py_next': [], 'np_next': []}
    outputs = []
    for policy in ('cifar10', 'imagenet'):
        policies = getattr(original, 'autoaug_%s_policies' % policy)()
        block = original.AugmentationBlock(policies)
        seeds = pick_seeds(policies, per_policy=2 if policy == 'cifar10' else 1)
        pool = list(range(6)) if policy == 'cifar10' else [6, 7]
        for k, seed in enumerate(seeds):
            index = pool[k % len(pool)]
            random.seed(seed)
            np.random.seed(seed)
            out = block(mx.nd.array(images[index], dtype='uint8')).asnumpy()
            cases['py_next'].append(random.random())
            cases['np_next'].append(np.random.random_sample())
            assert out.dtype == np.float32 and np.array_equal(out, np.round(out))
            cases['policy'].append(policy)
            cases['image'].append(index)
            cases['seed'].append(seed)
            outputs.append(out.astype(np.uint8))
    np.savez_compressed(
        os.path.join(HERE, 'golden.npz'),
        policy=np.array(cases['policy']), image=np.array(cases['image']),
        seed=np.array(cases['seed']), py_next=np.array(cases['py_next']),
        np_next=np.array(cases['np_next']),
        **{'image_%d' % i: image for i, image in enumerate(images)},
        **{'output_%d' % i: out for i, out in enumerate(outputs)})
    print('%d cases written' % len(outputs))


if __name__ == '__main__':
    main(sys.argv[1])
