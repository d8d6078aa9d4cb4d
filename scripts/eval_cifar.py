"""Test-set accuracy (overall and per label, e.g. per super-class) of a CIFAR-100 checkpoint.

    python scripts/eval_cifar.py runs/cifar_aff_resnet32-coarse-final          # best, else last
    python scripts/eval_cifar.py runs/x/last --data-dir ~/data/cifar100 --labels fine
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import mxnet as mx  # noqa: E402
from mxnet import gluon  # noqa: E402

from gluon_aff.data import CIFAR100, cifar_transforms  # noqa: E402
from gluon_aff.training.cifar import load_trained_model, per_class_accuracy  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('checkpoint', help='run folder or checkpoint prefix (runs/x/best)')
    p.add_argument('--data-dir', help='default: the one the run was trained on')
    p.add_argument('--labels', choices=['coarse', 'fine'], help='default: the training labels')
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--gpu', type=int, help='GPU id; CPU when not given')
    p.add_argument('--json', help='also write the result to this JSON file')
    args = p.parse_args(argv)
    ctx = mx.gpu(args.gpu) if args.gpu is not None else mx.cpu()
    net, state = load_trained_model(args.checkpoint, ctx)
    info = state.get('info', {})
    labels = args.labels or info.get('labels', 'coarse')
    test_set = CIFAR100(args.data_dir or info.get('data_dir'), train=False, labels=labels)
    net.hybridize()
    data = gluon.data.DataLoader(test_set.transform_first(cifar_transforms(train=False)),
                                 batch_size=args.batch_size)
    overall, counts, correct = per_class_accuracy(net, data, test_set.classes, ctx)
    names = test_set.label_names or [str(i) for i in range(test_set.classes)]
    print('checkpoint %s (epoch %s), %s labels, %d test images' % (
        args.checkpoint, state.get('epoch'), labels, counts.sum()))
    for name, n, k in zip(names, counts, correct):
        print('  %-32s %6.2f %%  (%d/%d)' % (name, 100.0 * k / max(n, 1), k, n))
    print('top-1 accuracy: %.4f' % overall)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'accuracy': float(overall), 'labels': labels,
                       'per_class': {n: float(k) / max(c, 1) for n, c, k in
                                     zip(names, counts.tolist(), correct.tolist())}}, f, indent=1)
    return overall


if __name__ == '__main__':
    from gluon_aff.cli import run
    sys.exit(run(main))
