"""Test-set accuracy (overall and per label, e.g. per super-class) of a CIFAR-100 or CIFAR-10
checkpoint: a run of ours, or a released / original open-aff ``.params`` file.

    gluon-aff eval-cifar --run runs/cifar_aff_resnet32-coarse-final          # best, else last
    gluon-aff eval-cifar --run runs/x/last --data-dir ~/data/cifar100
    gluon-aff eval-cifar --params 0.9078-cifar100-ASKCFuse-resnet-32-c-4-s-1-best.params
    gluon-aff eval-cifar --params c100_aff32.params --model cifar_aff_resnet32 --labels fine

An original file's network is read from its name (the original scripts' patterns,
gluon_aff.model_zoo.convert) unless --model names it. The label set defaults to the one the run
was trained on; another one is refused (its scores would be against labels the network never
learned).
"""
import argparse
import json
import os
import warnings

from mxnet import gluon

from ..cli import (UserError, add_checkpoint_flags, add_device_flags, devices, load_from_flags,
                   make_parser, user_input)
from ..data import CIFAR10, CIFAR100, cifar_transforms, num_label_classes
from ..errors import UserNotice
from ..training.checkpoint import atomic_write
from ..training.cifar import per_class_accuracy


def parse_args(argv=None):
    p = make_parser(__doc__)
    p.add_argument('checkpoint', nargs='?', help=argparse.SUPPRESS)
    add_checkpoint_flags(p)
    p.add_argument('--dataset', choices=['cifar100', 'cifar10'],
                   help='default: the one the run was trained on (a bare file: cifar10 for a '
                        '10-way head)')
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


def check_labels(state, labels, source, dataset='cifar100'):
    """The label set to score with: ``labels`` or the run's own (None for CIFAR-10); refuses a
    set the network was not trained on and a head too small for it."""
    card, info = state['model']['card'], state.get('info') or {}
    if card['dataset'] != 'cifar100':
        raise UserError('%s holds %s, a %s model: eval-cifar scores CIFAR classifiers'
                        % (source, state['model']['name'], card['dataset']))
    head = state['model']['kwargs'].get('classes', card['classes'])
    if dataset == 'cifar10':
        if labels:
            raise UserError('--labels is for CIFAR-100; CIFAR-10 has one label set')
        if head < 10:
            raise UserError('%s has a %d-way head, too small for the 10 CIFAR-10 classes'
                            % (source, head))
        return None
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
    if head < num_label_classes(labels):
        raise UserError('%s has a %d-way head, too small for the %d %s labels'
                        % (source, head, num_label_classes(labels), labels))
    return labels


def released_model(args):
    """``--model``/``--model-kwargs`` of a bare original file from its name (when not given)."""
    if not args.params or args.model or args.run:
        return
    from ..model_zoo.convert import original_spec
    try:
        args.model, kwargs = original_spec(args.params)
    except ValueError as err:
        raise UserError('%s; give --model NAME' % err) from None
    args.model_kwargs = dict(kwargs, **(args.model_kwargs or {}))


def main(argv=None):
    args = parse_args(argv)
    ctx = devices(args)
    released_model(args)
    net, state = load_from_flags(args, ctx)
    source = args.run or args.params
    info = state.get('info') or {}
    head = state['model']['kwargs'].get('classes', state['model']['card']['classes'])
    dataset = args.dataset or info.get('dataset') or ('cifar10' if head == 10 else 'cifar100')
    labels = check_labels(state, args.labels, source, dataset)
    with user_input():
        data_dir = args.data_dir or info.get('data_dir') or os.path.join(
            '~', '.mxnet', 'datasets', dataset)
        test_set = CIFAR10(data_dir, train=False) if dataset == 'cifar10' else \
            CIFAR100(data_dir, train=False, labels=labels)
    net.hybridize()
    data = gluon.data.DataLoader(test_set.transform_first(cifar_transforms(train=False)),
                                 batch_size=args.batch_size)
    overall, counts, correct = per_class_accuracy(net, data, test_set.classes, ctx)
    names = test_set.label_names or [str(i) for i in range(test_set.classes)]
    print('checkpoint %s (epoch %s), %s, %d test images' % (
        source, state.get('epoch'), '%s labels' % labels if labels else 'CIFAR-10',
        counts.sum()))
    for name, n, k in zip(names, counts, correct):
        print('  %-32s %6.2f %%  (%d/%d)' % (name, 100.0 * k / max(n, 1), k, n))
    print('top-1 accuracy: %.4f' % overall)
    if args.json:
        result = {'accuracy': float(overall), 'labels': labels or 'class', 'dataset': dataset,
                  'per_class': {n: float(k) / max(c, 1) for n, c, k in
                                zip(names, counts.tolist(), correct.tolist())}}

        def dump(tmp):
            with open(tmp, 'w') as f:
                json.dump(result, f, indent=1)
        atomic_write(args.json, dump)
    return float(overall)
