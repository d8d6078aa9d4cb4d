#!/usr/bin/env python
"""CPU inference of ``gluon_aff.deploy.optimize`` (fp32 / bf16 / int8) and bf16 AMP training,
each against the plain hybridized fp32 model in the same process, interleaved:

    python benchmarks/bench_deploy.py [--model aff_resnet50] [--batch 8] [--size 224]

The weights are Xavier-initialised and INT8 is calibrated on random inputs: this measures speed
only (``tests/test_deploy.py`` checks accuracy on a trained model). bf16 training runs in a
child process, because ``mxnet.contrib.amp.init`` patches MXNet for the whole process; the fp32
network is traced before AMP is switched on, so both run side by side.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_fusion import make_steps  # noqa: E402
from timing import format_ratio, interleaved, per_second  # noqa: E402

CHILD = '--child-amp-training'


def deploy_ratios(model, batch, size, precisions=('fp32', 'bf16', 'int8'), rounds=5, iters=2):
    """Rows ``(what, img/s, ratio text)`` of the optimized blocks against the plain model."""
    import mxnet as mx
    import gluon_aff
    from gluon_aff.deploy import optimize
    net = gluon_aff.get_model(model)
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.random.uniform(-1, 1, shape=(batch, 3, size, size))
    calib = [mx.nd.random.uniform(-1, 1, shape=x.shape) for _ in range(2)]
    blocks = {'plain fp32': net}
    for precision in precisions:
        blocks['deploy ' + precision] = optimize(net, x, precision,
                                                 calib if precision == 'int8' else None)
    times = interleaved({name: (lambda b=block: b(x).wait_to_read())
                         for name, block in blocks.items()}, rounds, iters)
    return [(name, per_second(times, name, batch), format_ratio(times, name, 'plain fp32'))
            for name in blocks]


def _amp_child(model, batch, size, rounds, iters):
    from mxnet.contrib import amp
    fp32 = make_steps(model, batch, size, ('train',))['train']
    fp32()  # traced in float32 before AMP patches MXNet
    amp.init(target_dtype='bfloat16')
    bf16 = make_steps(model, batch, size, ('train',))['train']
    times = interleaved({'fp32 train': fp32, 'bf16 AMP train': bf16}, rounds, iters)
    print(json.dumps([(name, per_second(times, name, batch),
                       format_ratio(times, name, 'fp32 train')) for name in times]))


def amp_training_ratio(model, batch, size, rounds=5, iters=1):
    """Rows ``(what, img/s, ratio text)``: a bf16 AMP training step against the fp32 one."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), CHILD, model, str(batch),
                          str(size), str(rounds), str(iters)], capture_output=True, text=True,
                         check=True)
    return [tuple(row) for row in json.loads(out.stdout.strip().splitlines()[-1])]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == CHILD:
        return _amp_child(argv[1], *(int(a) for a in argv[2:6]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='aff_resnet50')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--iters', type=int, default=2)
    args = parser.parse_args(argv)
    rows = deploy_ratios(args.model, args.batch, args.size, rounds=args.rounds,
                         iters=args.iters)
    rows += amp_training_ratio(args.model, args.batch, args.size, args.rounds)
    print('%-16s %9s  %s' % (args.model, 'img/s', 'speed-up: wall | cpu'))
    for name, speed, text in rows:
        print('%-16s %9.1f  %s' % (name, speed, text))
    return rows


if __name__ == '__main__':
    main()
