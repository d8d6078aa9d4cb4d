#!/usr/bin/env python
"""Peak memory of the attention hosts against their ``add`` twins, one fresh process per run.

Each configuration (model, inference or training step, batch) runs in its own Python process:
the network is hybridized with ``static_alloc``, run three times, and the process reports its
peak resident set size (``VmHWM``; robust to other jobs on the machine) and the peak of
MXNet's own storage as its memory profiler counts it (``profile_memory``):

    python benchmarks/bench_memory.py                       # the issue's configurations
    python benchmarks/bench_memory.py --models aff_resnet50 --base add_resnet50 --infer 32
"""
import argparse
import json
import os
import subprocess
import sys

CHILD = '--child'


def peak_rss_mb():
    """Peak resident set size of this process in MB: ``VmHWM`` (Linux; reset by ``exec``, unlike
    ``ru_maxrss``, which a child started from a large parent inherits), else ``ru_maxrss``."""
    if os.path.isfile('/proc/self/status'):
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(name, phase, batch, size):
    """Run one configuration in this process; print a JSON line with the peaks."""
    import re
    import mxnet as mx
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_fusion import make_steps
    from timing import profiler_config
    profiler_config(profile_memory=True, aggregate_stats=True)
    mx.profiler.set_state('run')
    step = make_steps(name, batch, size, (phase,))[phase]
    for _ in range(3):
        step()
    mx.nd.waitall()
    mx.profiler.set_state('stop')
    stats = mx.profiler.dumps()
    storage = re.search(r'Memory: cpu/0\s+\d+\s+[\d.]+\s+([\d.]+)', stats)
    print(json.dumps({'rss_mb': peak_rss_mb(),
                      'storage_mb': float(storage.group(1)) / 1024.0 if storage else None}))


def peak_memory(name, phase, batch, size):
    """``{'rss_mb': .., 'storage_mb': ..}`` of one configuration, measured in a new process."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), CHILD, name, phase,
                          str(batch), str(size)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_table(models, base, configs, size):
    """Rows ``(phase, batch, model, rss MB, rss ratio to base, storage MB, storage ratio)``."""
    rows = []
    for phase, batch in configs:
        base_peak = peak_memory(base, phase, batch, size)
        for name in (base,) + tuple(models):
            peak = base_peak if name == base else peak_memory(name, phase, batch, size)
            storage_ratio = (peak['storage_mb'] / base_peak['storage_mb']
                             if peak['storage_mb'] and base_peak['storage_mb'] else float('nan'))
            rows.append((phase, batch, name, peak['rss_mb'], peak['rss_mb'] / base_peak['rss_mb'],
                         peak['storage_mb'] or float('nan'), storage_ratio))
    return rows


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == CHILD:
        return _child(argv[1], argv[2], int(argv[3]), int(argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', default='aff_resnet50,iaff_resnet50')
    parser.add_argument('--base', default='add_resnet50')
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--infer', default='1,8,32', help='inference batch sizes')
    parser.add_argument('--train', default='8', help='training-step batch sizes')
    args = parser.parse_args(argv)
    configs = [('infer', int(b)) for b in args.infer.split(',') if b] + \
              [('train', int(b)) for b in args.train.split(',') if b]
    rows = memory_table(args.models.split(','), args.base, configs, args.size)
    print('%-6s %5s %-16s %9s %7s %11s %7s' % ('phase', 'batch', 'model', 'RSS MB', 'ratio',
                                               'MXNet MB', 'ratio'))
    for row in rows:
        print('%-6s %5d %-16s %9.0f %7.2f %11.0f %7.2f' % row)
    return rows


if __name__ == '__main__':
    main()
