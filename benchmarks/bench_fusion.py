#!/usr/bin/env python
"""Speed of the attention hosts against their ``add`` twins (same host, no attention), fp32 CPU.

Inference and a training step (forward, backward, NAG update) of each model, hybridized with
``static_alloc``, all models in one process, interleaved round by round; printed as the ratio
of speeds to the twin (median over the rounds, min-max in brackets, wall clock and CPU time):

    python benchmarks/bench_fusion.py                      # ImageNet ResNet-50 family, batch 8
    python benchmarks/bench_fusion.py --cifar              # CIFAR ResNet-32 family, batch 32
    python benchmarks/bench_fusion.py --models aff_resnet50 --base add_resnet50 --rounds 9
    python benchmarks/bench_fusion.py --models add_resnet50_paper --base gluoncv:resnet50_v1b
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import format_ratio, interleaved, per_second  # noqa: E402

IMAGENET = (('aff_resnet50', 'iaff_resnet50'), 'add_resnet50', 8, 224)
CIFAR = (('cifar_aff_resnet32', 'cifar_iaff_resnet32'), 'cifar_add_resnet32', 32, 32)


def make_steps(name, batch, size, phases=('infer', 'train')):
    """``{phase: step}`` for zoo model ``name`` (Xavier weights, hybridized, static_alloc);
    ``gluoncv:NAME`` is a GluonCV model (e.g. ``gluoncv:resnet50_v1b``)."""
    import mxnet as mx
    from mxnet import autograd, gluon
    import gluon_aff
    if name.startswith('gluoncv:'):
        from gluoncv.model_zoo import get_model as gluoncv_model
        net = gluoncv_model(name[len('gluoncv:'):])
    else:
        net = gluon_aff.get_model(name)
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.random.uniform(-1, 1, shape=(batch, 3, size, size))
    y = mx.nd.array([i % 10 for i in range(batch)])
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'nag', {'learning_rate': 0.01, 'momentum': 0.9})

    def infer():
        net(x).wait_to_read()

    def train():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(batch)
    steps = {'infer': infer, 'train': train}
    return {phase: steps[phase] for phase in phases}


def fusion_ratios(models, base, batch, size, phases=('infer', 'train'), rounds=5, iters=2):
    """Rows ``(phase, model, img/s, ratio text)``: every model against ``base``, per phase."""
    names = (base,) + tuple(models)
    steps = {name: make_steps(name, batch, size, phases) for name in names}
    rows = []
    for phase in phases:
        times = interleaved({name: steps[name][phase] for name in names}, rounds, iters)
        for name in names:
            rows.append((phase, name, per_second(times, name, batch),
                         format_ratio(times, name, base)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cifar', action='store_true', help='the CIFAR ResNet-32 family')
    parser.add_argument('--models', default=None, help='comma-separated zoo names')
    parser.add_argument('--base', default=None, help='the twin without attention')
    parser.add_argument('--batch', type=int, default=None)
    parser.add_argument('--size', type=int, default=None)
    parser.add_argument('--phases', default='infer,train')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--iters', type=int, default=2)
    args = parser.parse_args(argv)
    models, base, batch, size = CIFAR if args.cifar else IMAGENET
    models = args.models.split(',') if args.models else models
    rows = fusion_ratios(models, args.base or base, args.batch or batch, args.size or size,
                         tuple(args.phases.split(',')), args.rounds, args.iters)
    print('%-6s %-22s %9s  %s' % ('phase', 'model', 'img/s', 'ratio to %s: wall | cpu'
                                   % (args.base or base)))
    for phase, name, speed, text in rows:
        print('%-6s %-22s %9.1f  %s' % (phase, name, speed, text))
    return rows


if __name__ == '__main__':
    main()
