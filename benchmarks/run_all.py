#!/usr/bin/env python
"""Every ratio of issue 14 in one run, as Markdown (the tables of ``docs/performance.md``):

1. fp32 speed, ImageNet family (aff/iaff vs add ResNet-50, batch 8, 224x224) and CIFAR family
   (aff/iaff vs add ResNet-32, batch 32), inference and training step (``bench_fusion.py``);
2. peak memory, inference at batch 1/8/32 and a training step at batch 8 (``bench_memory.py``);
3. CPU deployment fp32/bf16/int8 and bf16 AMP training against the plain fp32 model
   (``bench_deploy.py``).

    python benchmarks/run_all.py [--rounds 5] [--out results.md]
    python benchmarks/run_all.py --quick      # tiny models, seconds: checks that all of it runs

About 10-15 minutes on 2 cores. The per-operator profile is ``profile_ops.py``, the golden drift
of the fusions' arithmetic ``golden_drift.py``.
"""
import argparse
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_deploy import amp_training_ratio, deploy_ratios  # noqa: E402
from bench_fusion import CIFAR, IMAGENET, fusion_ratios  # noqa: E402
from bench_memory import memory_table  # noqa: E402

QUICK = dict(imagenet=(('cifar_aff_resnet_b1',), 'cifar_add_resnet_b1', 2, 32),
             cifar=(('cifar_iaff_resnet_b1',), 'cifar_add_resnet_b1', 2, 32),
             memory=(('cifar_aff_resnet_b1',), 'cifar_add_resnet_b1', [('infer', 2)], 32),
             deploy=('cifar_aff_resnet_b1', 2, 32), rounds=1)


def machine():
    """``'AMD EPYC, 2 cores (avx512_bf16 avx512_vnni), MXNet 1.9.1'`` from lscpu/cpuinfo."""
    import mxnet as mx
    model = platform.processor() or 'unknown CPU'
    try:
        for line in subprocess.run(['lscpu'], capture_output=True, text=True).stdout.splitlines():
            if line.startswith('Model name:'):
                model = line.split(':', 1)[1].strip()
    except OSError:
        pass
    flags = set()
    if os.path.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            flags = set(next((l for l in f if l.startswith('flags')), ':').split(':')[1].split())
    extra = ' '.join(f for f in ('avx512f', 'avx512_bf16', 'avx512_vnni') if f in flags)
    return '%s, %d cores (%s), MXNet %s, OMP_WAIT_POLICY=%s' % (
        model, os.cpu_count(), extra or 'no avx512', mx.__version__,
        os.environ.get('OMP_WAIT_POLICY'))


def _speed_section(title, rows, base):
    lines = ['', '### ' + title, '', '| phase | model | img/s | ratio to %s: wall (min-max) |'
             ' CPU time |' % base, '|---|---|---:|---|---|']
    for phase, name, speed, text in rows:
        wall, cpu = text.split(' | cpu ')
        lines.append('| %s | %s | %.1f | %s | %s |' % (phase, name, speed, wall, cpu))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--quick', action='store_true', help='tiny models: a smoke run')
    parser.add_argument('--out', default=None, help='also write the Markdown here')
    args = parser.parse_args(argv)
    quick = QUICK if args.quick else None
    rounds = QUICK['rounds'] if quick else args.rounds
    start = time.time()
    lines = ['## Results', '', 'Machine: ' + machine()]

    for models, base, batch, size in ((quick['imagenet'], quick['cifar']) if quick
                                      else (IMAGENET, CIFAR)):
        lines += _speed_section('fp32 against %s, batch %d, %dx%d' % (base, batch, size, size),
                                fusion_ratios(models, base, batch, size, rounds=rounds), base)

    if quick:
        models, base, configs, size = quick['memory']
    else:
        models, base, size = ('aff_resnet50', 'iaff_resnet50'), 'add_resnet50', 224
        configs = [('infer', 1), ('infer', 8), ('infer', 32), ('train', 8)]
    lines += ['', '### Peak memory (fresh process per row)', '',
              '| phase | batch | model | peak RSS MB | ratio | MXNet storage MB | ratio |',
              '|---|---:|---|---:|---:|---:|---:|']
    lines += ['| %s | %d | %s | %.0f | %.2f | %.0f | %.2f |' % row
              for row in memory_table(models, base, configs, size)]

    model, batch, size = quick['deploy'] if quick else ('aff_resnet50', 8, 224)
    rows = deploy_ratios(model, batch, size, rounds=rounds)
    rows += amp_training_ratio(model, batch, size, rounds=rounds)
    lines += ['', '### CPU deployment and bf16 training, %s, batch %d, %dx%d' % (
        model, batch, size, size), '', '| what | img/s | speed-up: wall (min-max) | CPU time |',
        '|---|---:|---|---|']
    for name, speed, text in rows:
        wall, cpu = text.split(' | cpu ')
        lines.append('| %s | %.1f | %s | %s |' % (name, speed, wall, cpu))
    lines += ['', '(%d rounds, %.0f s)' % (rounds, time.time() - start)]
    text = '\n'.join(lines)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return lines


if __name__ == '__main__':
    main()
