"""Reproduction report: paper value, original-log value, ours, difference and status per cell.

Our values come only from ``<runs>/<run name>/metrics.jsonl`` (written by every training script,
read with :func:`gluon_aff.training.read_metrics`). A run's status:

* ``not run``: its directory does not exist;
* ``done``: epoch ``E-1`` is in ``metrics.jsonl`` (a plan of ``E`` epochs), or the directory holds
  a file named ``done`` (for runs deliberately trained with another number of epochs);
* ``running``: not done, and a live process trains in it: its ``run.lock`` names a process
  that is alive (same host) or was touched within the last three minutes (another host; the
  trainer touches it every 30 s), see :func:`gluon_aff.training.run_status`;
* ``stopped``: not done and no live process (interrupted, crashed, killed; continue it with
  ``--resume``).

"Ours" is the best validation value over the epochs of a run (``max val_acc`` /
``max val_miou``; the original code also logs and names its checkpoints by the best test
accuracy), averaged over the seeds that are done. A cell whose runs are not done shows its status
and, for running or stopped runs, the best value so far marked *partial*; differences are only
computed for done cells. Never a number that was not measured.
"""
import html
import math
import os

from ..training import read_metrics
from ..training.run import RUNNING, STOPPED, run_status
from .tables import (TRAINING_TABLES, load_openaff_logs, load_paper_tables, table_title,
                     training_cells)

__all__ = ['NOT_RUN', 'RUNNING', 'STOPPED', 'DONE', 'RunResult', 'run_result', 'cell_value',
           'build_report', 'write_report', 'plot_run', 'plots_dir']

NOT_RUN, DONE = 'not run', 'done'

#: metrics.jsonl key each cell metric is read from
_SOURCE_KEY = {'val_acc': 'val_acc', 'val_miou': 'val_miou', 'top1_err': 'val_acc'}


class RunResult(object):
    """What a run directory holds: ``status``, ``epochs_done``, ``planned`` and metric ``rows``."""

    def __init__(self, save_dir, status, rows, planned):
        self.save_dir, self.status, self.rows, self.planned = save_dir, status, rows, planned

    @property
    def epochs_done(self):
        return len({r['epoch'] for r in self.rows if 'epoch' in r})

    def best(self, key):
        """Best (max) finite ``key`` over the rows, or ``None``."""
        values = [r[key] for r in self.rows
                  if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        return max(values) if values else None


def run_result(save_dir, epochs):
    """:class:`RunResult` of ``save_dir`` for a plan of ``epochs`` epochs (rules above)."""
    if epochs <= 0:
        raise ValueError('planned epochs must be positive, got %r' % (epochs,))
    if not os.path.isdir(save_dir):
        return RunResult(save_dir, NOT_RUN, [], epochs)
    path = os.path.join(save_dir, 'metrics.jsonl')
    rows = []
    if os.path.exists(path):
        try:
            rows = read_metrics(path)
        except ValueError as err:
            raise ValueError('%s is not valid JSON lines: %s' % (path, err)) from None
    last = max((r['epoch'] for r in rows if 'epoch' in r), default=-1)
    done = last >= epochs - 1 or os.path.exists(os.path.join(save_dir, 'done'))
    return RunResult(save_dir, DONE if done else run_status(save_dir), rows, epochs)


def cell_value(cell, results):
    """``(value, status, note)`` of ``cell`` from its seeds' :class:`RunResult` list.

    ``value`` is in the cell's units (Table 5: top-1 error in %, released ImageNet logs: top-1
    error as a fraction) or ``None``; ``note`` says how many seeds / epochs it rests on.
    """
    key = _SOURCE_KEY[cell.metric]

    def convert(best):
        if best is None or cell.metric != 'top1_err':
            return best
        return 100.0 * (1.0 - best) if cell.table == 'table5' else 1.0 - best

    done = [r for r in results if r.status == DONE and r.best(key) is not None]
    started = [r for r in results if r.status != NOT_RUN]
    if not started:
        return None, NOT_RUN, ''
    if len(done) == len(results):
        values = [convert(r.best(key)) for r in done]
        note = 'mean of %d seeds' % len(values) if len(values) > 1 else ''
        return sum(values) / len(values), DONE, note
    furthest = max(started, key=lambda r: r.epochs_done)
    best = convert(furthest.best(key))
    note = 'partial: %d/%d epochs' % (furthest.epochs_done, furthest.planned)
    if len(results) > 1:
        note += ', %d/%d seeds done' % (len(done), len(results))
    status = RUNNING if any(r.status == RUNNING for r in started) else STOPPED
    return best, status, note


def plot_run(results, name, path, metric_key):
    """Curves of one run (all seeds): train loss and ``metric_key`` per epoch, saved as PNG."""
    from ..training.curves import plot_curves
    panels = (('train loss', 'train loss', ('train_loss',)), (metric_key, metric_key, (metric_key,)))
    return plot_curves([r.save_dir for r in results], path, title=name, panels=panels)


def model_parameters(name):
    """Trainable parameters of zoo model ``name`` (the paper's Table 5 count, BatchNorm running
    statistics excluded; the paper truncates to one decimal of millions)."""
    from ..model_zoo import get_model
    from ..summary import count_params, default_input_shape
    net = get_model(name)
    return count_params(net, default_input_shape(name, net))[1]


def _fmt(value, digits=4):
    return '-' if value is None else ('%.*f' % (digits, value))


def _diff(ours, ref, digits=4):
    return '' if ours is None or ref is None else '%+.*f' % (digits, ours - ref)


def build_report(runs_dir, seeds=(0,), tables=None, epochs=None, params=True, plots_dir=None):
    """Sections of the report as ``[(title, header, rows, notes)]`` (rows of strings).

    ``params=False`` skips building the Table 5 models for their parameter counts (slow).
    ``plots_dir``: where curve PNGs are written (``None``: no plots). ``epochs`` overrides the
    recipes' planned epochs (for plans made with ``--epochs``).
    """
    tables = list(TRAINING_TABLES + ('table7',) if tables is None else tables)
    cells = training_cells([t for t in tables if t != 'table7'])
    sections, cache, plotted = [], {}, {}
    for table in [t for t in tables if t != 'table7']:
        header = ['Cell', 'Paper', 'Original log', 'Ours', 'Ours - paper', 'Ours - original',
                  'Status', 'Curves']
        if table == 'table5':
            header[1:1] = ['Params paper (M)', 'Params ours (M)']
        rows = []
        for cell in (c for c in cells if c.table == table):
            digits = 2 if cell.table == 'table5' else 4
            ours = status = note = None
            curves = ''
            if cell.run is None:
                status = 'quoted (other paper)'
            else:
                results = []
                for seed in seeds:
                    name = cell.run.run_name(seed)
                    if name not in cache:
                        cache[name] = run_result(os.path.join(runs_dir, name),
                                                 epochs or cell.run.epochs)
                    results.append(cache[name])
                ours, status, note = cell_value(cell, results)
                key = _SOURCE_KEY[cell.metric]
                base = cell.run.run_name(seeds[0])
                if plots_dir and status != NOT_RUN:
                    if base not in plotted:
                        png = os.path.join(plots_dir, base + '.png')
                        plot_run([r for r in results if r.status != NOT_RUN], base, png, key)
                        plotted[base] = png
                    curves = plotted[base]
            shown = _fmt(ours, digits) + (' (%s)' % note if note else '')
            done = status == DONE
            row = [cell.label, _fmt(cell.paper, digits if cell.table != 'released' else 4),
                   _fmt(cell.original, digits if cell.table != 'released' else 4),
                   shown if status != NOT_RUN else NOT_RUN,
                   _diff(ours, cell.paper, digits) if done else '',
                   _diff(ours, cell.original, digits) if done else '', status, curves]
            if table == 'table5':
                paper_params = load_paper_tables()['tables']['table5']['rows'][cell.row]
                ours_params = ('%.2f' % (model_parameters(cell.run.model) / 1e6)
                               if params and cell.run is not None else '-')
                row[1:1] = ['%.1f' % paper_params['params_m'], ours_params]
            rows.append(row)
        notes = list(load_paper_tables()['tables'].get(table, {}).get('notes', []))
        if table == 'released':
            notes.append(load_openaff_logs()['source'])
        sections.append((table_title(table), header, rows, notes))
    if 'table7' in tables:
        sections.append(_table7_section())
    return sections


def _table7_section(channels=64, size=8):
    """Table 7 with the ratios counted from blocks of this library (:func:`gluon_aff.summary.table7`).

    Conv and AFF columns are in the paper's units (``C^2 HW``, multiplication and addition
    counted separately, i.e. 2 x multiply-adds), ``C`` = block width, ``H x W`` = ``size^2``.
    """
    from ..summary import table7
    paper = load_paper_tables()['tables']['table7']['rows']
    ours = table7(channels=channels, size=size)
    unit = float(channels * channels * size * size)
    key_of = {'basic_doubling': 'basic_doubling', 'basic_same': 'basic',
              'bottleneck_doubling': 'bottleneck_doubling', 'bottleneck_same': 'bottleneck'}
    header = ['ResBlock', 'Conv paper (C^2HW)', 'Conv counted', 'AFF paper (C^2HW)',
              'AFF counted', 'Percent paper', 'Percent counted']
    rows = []
    for k, p in paper.items():
        host, fusion = ours[key_of[k]]['counted_macs']
        rows.append([p['label'], '%g' % p['conv_c2hw'], '%g' % (2 * host / unit),
                     '%g' % p['aff_c2hw'], '%g' % (2 * fusion / unit), '%.2f%%' % p['percent'],
                     '%.2f%%' % ours[key_of[k]]['percent_counted']])
    notes = ['Counted: multiply-adds of the convolutions of one block built by this library '
             '(gluon_aff.summary.table7, C = %d, H = W = %d; shortcut projection and the global '
             'branch on the 1x1 map excluded), times 2.' % (channels, size),
             'The basic-block rows match the paper exactly. The paper\'s bottleneck conv FLOPs '
             '(51/52 C^2HW) cannot be obtained from a v1b bottleneck (1x1-3x3-1x1 convs: 34 C^2HW, '
             '30 with a half-width input); its percentages are 4/51 and 4/52 of its own numbers.']
    return (load_paper_tables()['tables']['table7']['title'], header, rows, notes)


def _markdown(sections, runs_dir, out_dir):
    lines = ['# Reproduction report', '',
             'Runs read from `%s`. Paper values: `gluon_aff/reproduce/data/paper_tables.json`; '
             'original-log values: `gluon_aff/reproduce/data/openaff_logs.json`. Status rules and '
             'the meaning of "ours": `docs/reproducing.md`.' % runs_dir, '']
    for title, header, rows, notes in sections:
        lines += ['## ' + title, '', '| ' + ' | '.join(header) + ' |',
                  '|' + '---|' * len(header)]
        for row in rows:
            cells = list(row)
            if header[-1] == 'Curves' and cells[-1]:
                cells[-1] = '[png](%s)' % os.path.relpath(cells[-1], out_dir)
            lines.append('| ' + ' | '.join(c.replace('|', '/') for c in cells) + ' |')
        lines += [''] + ['- ' + n for n in notes] + ['']
    return '\n'.join(lines)


def _html(sections, runs_dir, out_dir):
    esc = html.escape
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>Reproduction report</title>',
             '<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;'
             'font:13px sans-serif}img{height:120px}</style></head><body>',
             '<h1>Reproduction report</h1><p>Runs read from <code>%s</code>.</p>' % esc(runs_dir)]
    for title, header, rows, notes in sections:
        parts.append('<h2>%s</h2><table><tr>%s</tr>' % (
            esc(title), ''.join('<th>%s</th>' % esc(h) for h in header)))
        for row in rows:
            cells = [esc(c) for c in row]
            if header[-1] == 'Curves' and row[-1]:
                src = esc(os.path.relpath(row[-1], out_dir))
                cells[-1] = '<a href="%s"><img src="%s"></a>' % (src, src)
            parts.append('<tr>%s</tr>' % ''.join('<td>%s</td>' % c for c in cells))
        parts.append('</table><ul>%s</ul>' % ''.join('<li>%s</li>' % esc(n) for n in notes))
    parts.append('</body></html>')
    return '\n'.join(parts)


def plots_dir(out):
    """Where :func:`write_report` puts the curve PNGs of report ``out``: ``plots/`` beside it."""
    return os.path.join(os.path.dirname(os.path.abspath(out)), 'plots')


def write_report(runs_dir, out, seeds=(0,), tables=None, epochs=None, params=True):
    """Write ``out`` (Markdown), ``out`` with ``.html`` and :func:`plots_dir` ``(out)/*.png``.

    Returns ``(markdown path, html path)``.
    """
    if not os.path.isdir(runs_dir):
        raise FileNotFoundError('runs directory %r does not exist' % runs_dir)
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    sections = build_report(runs_dir, seeds, tables, epochs, params, plots_dir=plots_dir(out))
    html_path = os.path.splitext(out)[0] + '.html'
    with open(out, 'w') as f:
        f.write(_markdown(sections, runs_dir, out_dir))
    with open(html_path, 'w') as f:
        f.write(_html(sections, runs_dir, out_dir))
    return out, html_path
