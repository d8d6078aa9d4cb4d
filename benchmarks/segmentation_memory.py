#!/usr/bin/env python
"""Peak memory of one StopSign training step (forward + backward + AdaGrad) per batch size, CPU.

Every (model, widths, batch) runs in a fresh process; the peak resident set (``VmHWM``)
after the step minus the resident set before it (MXNet imported, network built and initialised)
is the step's memory: activations, gradients, optimizer state and MXNet's pooled buffers. A
line ``a + b * batch`` fitted to the batches measured extrapolates to the recipe's batch 32
(docs/segmentation.md reads the GPU estimate off it).

    python benchmarks/segmentation_memory.py [--size 480] [--batches 1 2 4] \\
        [--models fpn_aff_resnet_b1 fpn_aff_resnet_b4] [--widths real tiny]
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_memory import peak_rss_mb  # noqa: E402

WIDTHS = {'real': [16, 16, 32, 64], 'tiny': [8, 8, 16, 32]}


def step(model, widths, batch, size):
    """Run in the child: one hybridized training step; print the memory numbers as JSON."""
    import mxnet as mx
    from gluoncv.loss import SoftmaxCrossEntropyLoss

    import gluon_aff

    def rss_mb():  # current resident set, from /proc (Linux)
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2.0 ** 20
    net = gluon_aff.get_model(model, channels=WIDTHS[widths])
    net.initialize(mx.init.MSRAPrelu(factor_type='in', slope=0.0))
    net.hybridize()
    trainer = mx.gluon.Trainer(net.collect_params(), 'adagrad', {'learning_rate': 0.01})
    loss_fn = SoftmaxCrossEntropyLoss(ignore_label=-1)
    x = mx.nd.random.uniform(shape=(batch, 3, size, size))
    y = (mx.nd.random.uniform(shape=(batch, size, size)) > 0.9)
    mx.nd.waitall()
    before = rss_mb()
    with mx.autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    trainer.step(batch)
    mx.nd.waitall()
    peak = peak_rss_mb()
    print(json.dumps({'model': model, 'widths': widths, 'batch': batch, 'size': size,
                      'base_mb': round(before, 1), 'peak_mb': round(peak, 1),
                      'step_mb': round(peak - before, 1)}))


def fit_line(points):
    """Least-squares ``(a, b)`` of ``mb = a + b * batch``."""
    n = float(len(points))
    sx = sum(p[0] for p in points)
    sy = sum(p[1] for p in points)
    sxx = sum(p[0] ** 2 for p in points)
    sxy = sum(p[0] * p[1] for p in points)
    b = (n * sxy - sx * sy) / (n * sxx - sx ** 2)
    return (sy - b * sx) / n, b


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--size', type=int, default=480)
    p.add_argument('--batches', type=int, nargs='+', default=[1, 2, 4])
    p.add_argument('--models', nargs='+', default=['fpn_aff_resnet_b1', 'fpn_aff_resnet_b4'])
    p.add_argument('--widths', nargs='+', default=['real', 'tiny'], choices=sorted(WIDTHS))
    p.add_argument('--target', type=int, default=32, help='batch to extrapolate to')
    p.add_argument('--child', nargs=3, metavar=('MODEL', 'WIDTHS', 'BATCH'),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        step(args.child[0], args.child[1], int(args.child[2]), args.size)
        return 0
    for model in args.models:
        for widths in args.widths:
            rows = []
            for batch in args.batches:
                out = subprocess.check_output([sys.executable, __file__, '--size',
                                               str(args.size), '--child', model, widths,
                                               str(batch)])
                rows.append(json.loads(out.decode().strip().splitlines()[-1]))
                print(json.dumps(rows[-1]))
            a, b = fit_line([(r['batch'], r['step_mb']) for r in rows])
            print('%s %s widths at %d: %.0f MB + %.0f MB per image -> batch %d: %.1f GB'
                  % (model, widths, args.size, a, b, args.target,
                     (a + b * args.target) / 1024.0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
