"""Run plans: the exact training command of every cell of the paper's tables.

One command per distinct run (model, recipe, labels, seed); cells sharing a run are listed together.
Three output formats:

* ``text``: commands grouped by table, each preceded by comments naming the cells it fills;
* ``sh``: a bash script (``set -euo pipefail``), one command per line, runs already done skipped
  at run time (the report's done rule, via ``reproduce.py status --epochs N SAVE_DIR``);
* ``jobs``: JSON lines ``{"name", "task", "gpus", "save_dir", "command", "cells"}`` for a
  cluster scheduler (Slurm array, GNU parallel, ...).

``shard=(k, n)`` keeps every n-th run starting at the k-th (1-based), so n machines can split one
plan without coordination.
"""
import json
import os
import shlex

from .tables import runs_of, training_cells

__all__ = ['TRAIN_SCRIPTS', 'DEFAULT_GPUS', 'PlanEntry', 'training_command', 'make_plan',
           'format_plan', 'parse_shard']

#: training script of each task, relative to the repository root
TRAIN_SCRIPTS = {'cifar': 'scripts/train_cifar.py', 'imagenet': 'scripts/train_imagenet.py',
                 'segmentation': 'scripts/train_segmentation.py'}

#: devices of each task as the original code ran it (ImageNet: 4 GPUs x 128 images each)
DEFAULT_GPUS = {'cifar': '0', 'imagenet': '0,1,2,3', 'segmentation': '0'}


class PlanEntry(object):
    """One run of the plan: its spec, seed, save directory, command and the cells it fills."""

    def __init__(self, run, seed, save_dir, argv, cells, epochs=None):
        self.run, self.seed, self.save_dir, self.argv, self.cells = run, seed, save_dir, argv, cells
        #: planned epochs: the ``--epochs`` override or the recipe's
        self.epochs = run.epochs if epochs is None else int(epochs)

    @property
    def name(self):
        return self.run.run_name(self.seed)

    @property
    def command(self):
        return ' '.join(shlex.quote(a) for a in self.argv)

    def as_dict(self):
        gpus = self.argv[self.argv.index('--gpus') + 1] if '--gpus' in self.argv else ''
        return {'name': self.name, 'task': self.run.task, 'model': self.run.model,
                'recipe': self.run.recipe, 'labels': self.run.labels, 'seed': self.seed,
                'epochs': self.epochs, 'gpus': len([g for g in gpus.split(',') if g]),
                'save_dir': self.save_dir, 'command': self.command,
                'cells': [c.cell_id for c in self.cells]}


def training_command(run, seed, save_dir, data_dir=None, gpus=None, python='python',
                     epochs=None):
    """``argv`` (list of str) of this project's training script for ``run`` with ``seed``.

    Parameters
    ----------
    run : RunSpec
        What to train.
    seed : int
        ``--seed``.
    save_dir : str
        ``--save-dir`` (``metrics.jsonl`` and checkpoints go there).
    data_dir : str, optional
        ``--data-dir`` (``--rec-dir`` for ImageNet); omitted when ``None`` (the script's
        default location).
    gpus : str, optional
        ``--gpus`` (e.g. ``'0,1,2,3'``); ``''``: the CPU (no ``--gpus``); default (``None``)
        :data:`DEFAULT_GPUS` of the task.
    python : str, default 'python'
        Interpreter.
    epochs : int, optional
        ``--epochs`` override; omitted when ``None`` (the recipe's epochs).
    """
    if run.task not in TRAIN_SCRIPTS:
        raise ValueError('unknown task %r (expected %s)' % (run.task, ', '.join(TRAIN_SCRIPTS)))
    argv = [python, TRAIN_SCRIPTS[run.task], '--model', run.model]
    if run.task == 'cifar':
        argv += ['--labels', run.labels or 'coarse']
    if run.task in ('cifar', 'imagenet'):
        argv += ['--recipe', run.recipe]
    if run.mixup:
        argv += ['--mixup']
    if epochs is not None:
        argv += ['--epochs', str(int(epochs))]
    gpus = DEFAULT_GPUS[run.task] if gpus is None else gpus
    argv += ['--seed', str(int(seed))] + (['--gpus', gpus] if gpus else []) + \
        ['--save-dir', save_dir]
    if data_dir:  # ImageNet: the RecordIO folder (train.rec/.idx, val.rec/.idx)
        argv += ['--rec-dir' if run.task == 'imagenet' else '--data-dir', data_dir]
    return argv


def parse_shard(text):
    """``'K/N'`` -> ``(K, N)`` with ``1 <= K <= N``."""
    try:
        k, n = (int(v) for v in str(text).split('/'))
    except ValueError:
        raise ValueError('shard must look like K/N (e.g. 2/4), got %r' % (text,)) from None
    if not 1 <= k <= n:
        raise ValueError('shard K/N needs 1 <= K <= N, got %r' % (text,))
    return k, n


def make_plan(tables=None, tasks=None, seeds=(0,), runs_dir='runs', data_dirs=None, gpus=None,
              python='python', shard=None, epochs=None):
    """The :class:`PlanEntry` list of ``tables`` (default: every trained table).

    Parameters
    ----------
    tables : list of str, optional
        Subset of :data:`~gluon_aff.reproduce.tables.TRAINING_TABLES`.
    tasks : list of str, optional
        Keep only runs of these tasks (``cifar``, ``imagenet``, ``segmentation``).
    seeds : sequence of int, default (0,)
        One run per seed.
    runs_dir : str, default 'runs'
        Each run saves to ``runs_dir/<run name>``.
    data_dirs : dict, optional
        ``{task: data dir}`` passed as ``--data-dir``.
    gpus : dict, optional
        ``{task: '0,1'}`` overriding :data:`DEFAULT_GPUS` (``''``: that task on the CPU).
    shard : (int, int), optional
        ``(k, n)``: keep runs ``k-1, k-1+n, ...`` of the full list.
    epochs : int, optional
        ``--epochs`` override for every run (smoke tests; the report then needs the same value).
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError('at least one seed is needed')
    cells = training_cells(tables)
    data_dirs, gpus = data_dirs or {}, gpus or {}
    entries = []
    for run in runs_of(cells, tasks):
        run_cells = [c for c in cells if c.run == run]
        for seed in seeds:
            save_dir = os.path.join(runs_dir, run.run_name(seed))
            argv = training_command(run, seed, save_dir, data_dirs.get(run.task),
                                    gpus.get(run.task), python, epochs)
            entries.append(PlanEntry(run, seed, save_dir, argv, run_cells, epochs))
    if shard is not None:
        k, n = shard
        entries = entries[k - 1::n]
    return entries


def format_plan(entries, fmt='text', python='python'):
    """Render ``entries`` as ``text``, ``sh`` or ``jobs`` (see the module docstring)."""
    if fmt == 'jobs':
        return ''.join(json.dumps(e.as_dict(), sort_keys=True) + '\n' for e in entries)
    if fmt not in ('text', 'sh'):
        raise ValueError("format must be 'text', 'sh' or 'jobs', got %r" % (fmt,))
    lines = []
    if fmt == 'sh':
        lines += ['#!/usr/bin/env bash',
                  '# generated by scripts/reproduce.py plan: one training run per line; a run',
                  '# already done (see docs/reproducing.md) is skipped; a stopped one makes its',
                  '# training script refuse the folder: add --resume to continue it.',
                  'set -euo pipefail', '']
    for entry in entries:
        lines.append('# %s (%d epochs): %s' % (entry.name, entry.epochs, '; '.join(
            c.cell_id for c in entry.cells)))
        if fmt == 'sh':
            check = [python, 'scripts/reproduce.py', 'status', '--epochs', str(entry.epochs),
                     entry.save_dir]
            lines.append('%s >/dev/null || %s' % (' '.join(shlex.quote(a) for a in check),
                                                  entry.command))
        else:
            lines.append(entry.command)
    return '\n'.join(lines) + '\n'
