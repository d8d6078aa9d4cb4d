"""Test-set accuracy (overall and per label, e.g. per super-class) of a CIFAR-100 checkpoint.

    gluon-aff eval-cifar --run runs/cifar_aff_resnet32-coarse-final          # best, else last
    gluon-aff eval-cifar --run runs/x/last --data-dir ~/data/cifar100
    gluon-aff eval-cifar --params c100_aff32.params --model cifar_aff_resnet32 --labels fine

The label set defaults to the one the run was trained on; another one is refused (its scores
would be against labels the network never learned).
"""
import argparse
import json
import warnings

from mxnet import gluon

from ..cli import (UserError, add_checkpoint_flags, add_device_flags, devices, load_from_flags,
                   make_parser, user_input)
from ..data import CIFAR100, cifar_transforms, num_label_classes
from ..errors import UserNotice
from ..training.checkpoint import atomic_write
from ..training.cifar import per_class_accuracy


def parse_args(argv=None):
    p = make_parser(__doc__)
    p.add_argument('checkpoint', nargs='?', help=argparse.SUPPRESS)
    add_checkpoint_flags(p)
    p.add_argument('--data-dir', help='default: the one the run was trained on')
    p.add_argument('--labels', choices=['coarse', 'fine'], help='default: the training labels')
    p.add_argument('--batch-size', type=int, default=256)
    add_device_flags(p)
    p.add_argument('--json', help='also write the result to this JSON file')
    args = p.parse_args(argv)
    if args.checkpoint:  # the old positional spelling of --run
        if args.run:
            p.error('give the run once (--run DIR)')
        warnings.warn('the positional checkpoint is deprecated; use --run %s' % args.checkpoint,
                      UserNotice)
        args.run = args.checkpoint
    return args


def check_labels(state, labels, source):
    """The label set to score with: ``labels`` or the run's own; refuses a set the network was
    not trained on and a head too small for it."""
    card, info = state['model']['card'], state.get('info') or {}
    if card['dataset'] != 'cifar100':
        raise UserError('%s holds %s, a %s model: eval-cifar scores CIFAR-100 classifiers'
                        % (source, state['model']['name'], card['dataset']))
    trained = info.get('labels')
    if trained is not None and trained not in ('coarse', 'fine'):
        raise UserError('%s was trained on %s, not on CIFAR-100' % (source, trained))
    if trained and labels and labels != trained:
        raise UserError('%s was trained on the %s labels (%d classes): --labels %s would score '
                        'it against labels it never learned; leave out --labels, or evaluate a '
                        'run trained with --labels %s' % (source, trained,
                                                          num_label_classes(trained), labels,
                                                          labels))
    if not trained:
        warnings.warn('%s does not record its label set: scoring against the %s labels (give '
                      '--labels if it was trained on the other set)' % (source, labels or
                                                                        'coarse'), UserNotice)
    labels = labels or trained or 'coarse'
    head = state['model']['kwargs'].get('classes', card['classes'])
    if head < num_label_classes(labels):
        raise UserError('%s has a %d-way head, too small for the %d %s labels'
                        % (source, head, num_label_classes(labels), labels))
    return labels


def main(argv=None):
    args = parse_args(argv)
    ctx = devices(args)
    net, state = load_from_flags(args, ctx)
    source = args.run or args.params
    labels = check_labels(state, args.labels, source)
    info = state.get('info') or {}
    with user_input():
        test_set = CIFAR100(args.data_dir or info.get('data_dir') or '~/.mxnet/datasets/cifar100',
                            train=False, labels=labels)
    net.hybridize()
    data = gluon.data.DataLoader(test_set.transform_first(cifar_transforms(train=False)),
                                 batch_size=args.batch_size)
    overall, counts, correct = per_class_accuracy(net, data, test_set.classes, ctx)
    names = test_set.label_names or [str(i) for i in range(test_set.classes)]
    print('checkpoint %s (epoch %s), %s labels, %d test images' % (
        source, state.get('epoch'), labels, counts.sum()))
    for name, n, k in zip(names, counts, correct):
        print('  %-32s %6.2f %%  (%d/%d)' % (name, 100.0 * k / max(n, 1), k, n))
    print('top-1 accuracy: %.4f' % overall)
    if args.json:
        result = {'accuracy': float(overall), 'labels': labels,
                  'per_class': {n: float(k) / max(c, 1) for n, c, k in
                                zip(names, counts.tolist(), correct.tolist())}}

        def dump(tmp):
            with open(tmp, 'w') as f:
                json.dump(result, f, indent=1)
        atomic_write(args.json, dump)
    return float(overall)
