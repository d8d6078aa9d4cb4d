"""Replay a run of the original open-aff code from its training log (``reproduce.py replay``).

A run is one segment of a log (:mod:`gluon_aff.reproduce.openaff_logs`). Its schedule comes from
its ``Namespace`` (:func:`gluon_aff.training.schedule.schedule_from_namespace`):
:func:`write_lr_trace` writes the lr of every update, :func:`check_logged_lr` compares it with
the lr values the log printed, at the same epoch and batch: an ImageNet ``Epoch[e] Batch [b]``
line printed ``trainer.learning_rate`` right after update ``b`` of epoch ``e``, i.e. the lr of
that update; a CIFAR ``[Epoch e]`` line printed it after the epoch, i.e. the lr of the epoch's
last update. The original printed ``%f`` (6 decimals), so a faithful trace agrees within 5e-7.
"""
import csv
import os
from dataclasses import dataclass

from ..training.schedule import lr_trace, schedule_from_namespace
from .openaff_logs import read_log

__all__ = ['run_schedule', 'write_lr_trace', 'check_logged_lr', 'LRCheck', 'describe_log']


def run_schedule(segment, num_samples=None):
    """The :class:`~gluon_aff.training.schedule.ScheduleArgs` of one logged run."""
    return schedule_from_namespace(segment.namespace, num_samples=num_samples)


def write_lr_trace(log_path, out_path, segment=None, num_samples=None):
    """Write ``epoch,batch,lr`` (0-based epoch and batch, one row per update) of a logged run.

    Parameters
    ----------
    log_path : str
        A log of the original (plain or gzip).
    out_path : str
        CSV file to write (replaced atomically).
    segment : int or None
        0-based run of the log (its Namespace lines); None: the last run that trained.
    num_samples : int or None
        Training-set size (default: the original's constant for the task).

    Returns
    -------
    (int, ScheduleArgs, int)
        The segment used, its schedule and the number of rows written.
    """
    log = read_log(log_path)
    run = log.segment(segment)
    args = run_schedule(run, num_samples)
    folder = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(folder):
        raise FileNotFoundError('folder of the lr trace does not exist: %s' % folder)
    tmp = out_path + '.tmp'
    rows = 0
    with open(tmp, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(('epoch', 'batch', 'lr'))
        for epoch, batch, lr in lr_trace(args):
            writer.writerow((epoch, batch, repr(lr)))
            rows += 1
    os.replace(tmp, out_path)
    return run.index, args, rows


@dataclass
class LRCheck:
    """Logged vs replayed lr of one run: ``count`` values compared, ``max_abs_err`` and the
    ``worst`` one as ``(epoch, batch, logged, replayed)``."""
    count: int
    max_abs_err: float
    worst: tuple


def check_logged_lr(segment, args=None):
    """Compare every lr a run printed with its replayed schedule (:class:`LRCheck`).

    ``args``: the run's schedule (default :func:`run_schedule`). An lr printed at an epoch or
    batch outside the replayed run raises ``ValueError``.
    """
    args = args or run_schedule(segment)
    scheduler, starts = args.build(), args.epoch_starts()
    count, worst = 0, (0.0, None)
    for epoch, batch, logged in segment.logged_lr():
        batch = args.epoch_length(epoch) - 1 if batch is None else batch
        replayed = float(scheduler(args.update_count(epoch, batch, starts)))
        error = abs(replayed - logged)
        count += 1
        if worst[1] is None or error > worst[0]:
            worst = (error, (epoch, batch, logged, replayed))
    return LRCheck(count=count, max_abs_err=worst[0], worst=worst[1])


def describe_log(log_path):
    """Lines describing a log's runs and the schedule of its default run (``replay`` without
    ``--lr-trace``)."""
    log = read_log(log_path)
    default = log.default_segment()
    lines = ['%s: %d run(s) (Namespace lines)' % (log_path, len(log.segments))]
    for run in log.segments:
        ns = run.namespace
        logged = ('epochs %d-%d' % (run.epochs[0]['epoch'], run.epochs[-1]['epoch'])
                  if run.epochs else 'batches only' if run.batches else 'nothing logged')
        lines.append('  segment %d (line %d)%s: %s, lr %s, %s epochs, %s'
                     % (run.index, run.line, ' [default]' if run.index == default else '',
                        ns.get('model', ns.get('scenario', '?')), ns.get('lr'),
                        ns.get('num_epochs'), logged))
    args = run_schedule(log.segments[default])
    lines.append('schedule of segment %d:' % default)
    lines += ['  ' + note for note in args.notes]
    return lines
