#!/usr/bin/env python
"""Per-operator time of a model against its ``add`` twin (``mx.profiler``), fp32 CPU.

Inference and a training step (forward + backward + update) at batch 8, hybridized with
``static_alloc``; MXNet's bulk execution is switched off so that the profiler sees every
operator (``MXNET_EXEC_BULK_EXEC_INFERENCE=0``, ``MXNET_EXEC_BULK_EXEC_TRAIN=0``; it costs a
little speed, ratios are for ``bench_fusion.py``). Prints a Markdown table of milliseconds per
step and operator calls per step, largest differences first:

    python benchmarks/profile_ops.py [--model aff_resnet50] [--base add_resnet50] [--iters 3]

``DNNL_VERBOSE=1`` shows in addition every oneDNN primitive, layout conversions ("reorder")
included; ``docs/performance.md`` explains what the table showed.
"""
import argparse
import json
import os
import sys

os.environ.setdefault('MXNET_EXEC_BULK_EXEC_INFERENCE', '0')
os.environ.setdefault('MXNET_EXEC_BULK_EXEC_TRAIN', '0')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_fusion import make_steps  # noqa: E402
from timing import profiler_config  # noqa: E402


def operator_times(name, phase, batch, size, iters=3):
    """``{operator: (calls per step, ms per step)}`` of one model and phase."""
    import mxnet as mx
    step = make_steps(name, batch, size, (phase,))[phase]
    for _ in range(2):
        step()
    mx.nd.waitall()
    profiler_config(profile_all=True, aggregate_stats=True)
    mx.profiler.set_state('run')
    for _ in range(iters):
        step()
    mx.nd.waitall()
    mx.profiler.set_state('stop')
    stats = json.loads(mx.profiler.dumps(reset=True, format='json'))['Time']['operator']
    return {op: (v['Count'] / iters, v['Total'] / iters) for op, v in stats.items()
            if op not in ('WaitForVar', 'DeleteVariable')}


def profile_table(model, base, batch, size, phases=('infer', 'train'), iters=3, min_ms=0.5):
    """Markdown lines: per phase, the operators of ``model`` and ``base`` (ms, calls) that take
    ``min_ms`` or more in one of them."""
    lines = []
    for phase in phases:
        ours, theirs = (operator_times(n, phase, batch, size, iters) for n in (model, base))
        lines += ['', '%s, batch %d, %dx%d (ms per step; calls per step)' % (
            'inference' if phase == 'infer' else 'training step', batch, size, size), '',
            '| operator | %s ms | calls | %s ms | calls | difference ms |' % (model, base),
            '|---|---:|---:|---:|---:|---:|']
        ops = sorted(set(ours) | set(theirs),
                     key=lambda op: -(ours.get(op, (0, 0))[1] - theirs.get(op, (0, 0))[1]))
        for op in ops:
            (c1, t1), (c2, t2) = ours.get(op, (0, 0.0)), theirs.get(op, (0, 0.0))
            if max(t1, t2) >= min_ms:
                lines.append('| %s | %.1f | %d | %.1f | %d | %+.1f |' % (op, t1, c1, t2, c2,
                                                                        t1 - t2))
        total1, total2 = sum(t for _, t in ours.values()), sum(t for _, t in theirs.values())
        lines.append('| **all operators** | **%.1f** | | **%.1f** | | **%+.1f** |'
                     % (total1, total2, total1 - total2))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='aff_resnet50')
    parser.add_argument('--base', default='add_resnet50')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--phases', default='infer,train')
    parser.add_argument('--iters', type=int, default=3)
    args = parser.parse_args(argv)
    lines = profile_table(args.model, args.base, args.batch, args.size,
                          tuple(args.phases.split(',')), args.iters)
    print('\n'.join(lines))
    return lines


if __name__ == '__main__':
    main()
