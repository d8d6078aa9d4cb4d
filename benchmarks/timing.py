"""Interleaved timing for the benchmarks: ratios measured in one process, A B A B ..., medians.

Every step is timed by the wall clock and by the process CPU time. On an idle machine both say
the same; on a shared one (other jobs on the same cores) the wall clock measures the load too,
while CPU time (with ``OMP_WAIT_POLICY=PASSIVE``, so that waiting OpenMP threads sleep instead of
spinning) still measures the work. The benchmarks set that variable before MXNet starts unless it
is set already.
"""
import atexit
import os
import shutil
import tempfile
import time

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import numpy as np  # noqa: E402

CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}


def interleaved(steps, rounds=5, iters=2, warmup=2):
    """Time each callable of ``steps`` (name -> step) ``rounds`` times, interleaved.

    Returns ``{name: {clock: [seconds per step, one value per round]}}``.
    """
    import mxnet as mx
    for step in steps.values():
        for _ in range(warmup):
            step()
    mx.nd.waitall()
    times = {name: {clock: [] for clock in CLOCKS} for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = {clock: read() for clock, read in CLOCKS.items()}
            for _ in range(iters):
                step()
            mx.nd.waitall()
            for clock, read in CLOCKS.items():
                times[name][clock].append((read() - start[clock]) / iters)
    return times


def ratio(times, name, base, clock):
    """Speed of ``name`` relative to ``base`` (> 1: faster) per round: ``(median, min, max)``."""
    per_round = np.array(times[base][clock]) / np.array(times[name][clock])
    return float(np.median(per_round)), float(per_round.min()), float(per_round.max())


def format_ratio(times, name, base):
    """``'0.91 (0.88-0.93) | cpu 0.92 (0.91-0.93)'``: wall and CPU-time ratios with spread."""
    wall, cpu = (ratio(times, name, base, clock) for clock in ('wall', 'cpu'))
    return '%.3f (%.3f-%.3f) | cpu %.3f (%.3f-%.3f)' % (wall + cpu)


def per_second(times, name, batch, clock='wall'):
    """Images per second of ``name`` (median over the rounds)."""
    return batch / float(np.median(times[name][clock]))


def profiler_config(**options):
    """``mx.profiler.set_config(**options)`` with the trace file in a private temporary folder.

    The profiler writes its file when it is dumped and on exit; never point it at ``os.devnull``,
    which MXNet replaces with a regular file (as root that breaks ``/dev/null`` for the machine).
    """
    import mxnet as mx
    folder = tempfile.mkdtemp(prefix='gluon_aff_profile_')
    atexit.register(shutil.rmtree, folder, True)
    mx.profiler.set_config(filename=os.path.join(folder, 'profile.json'), **options)
