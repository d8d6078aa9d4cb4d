"""Training curves from ``metrics.jsonl`` files, drawn with matplotlib (several runs overlaid).

One function serves every task; a task only chooses its *panels*: ``(title, ylabel, keys)``
triples, each key of ``metrics.jsonl`` drawn as one line per run (``train_*`` keys dashed).
Every point carries a marker, so a run of one epoch shows (as a dot) alone and in overlays, and
the epoch axis has integer ticks.
"""
import os

from .checkpoint import atomic_write
from .runlog import read_metrics

__all__ = ['plot_curves', 'curves_figure', 'CLASSIFICATION_PANELS', 'IMAGENET_PANELS',
           'SEGMENTATION_PANELS']

CLASSIFICATION_PANELS = (('loss', 'train loss', ('train_loss',)),
                         ('accuracy (dashed: train)', 'accuracy', ('train_acc', 'val_acc')))
IMAGENET_PANELS = (('train loss', 'loss', ('train_loss',)),
                   ('learning rate (end of epoch)', 'lr', ('lr',)),
                   ('validation error', 'error', ('val_top1_err', 'val_top5_err')))
SEGMENTATION_PANELS = (('loss', 'train loss', ('train_loss',)),
                       ('pixel accuracy (dashed: train)', 'pixel accuracy',
                        ('train_pixacc', 'val_pixacc')),
                       ('mIoU (dashed: train)', 'mIoU', ('train_miou', 'val_miou')))


def plot_curves(runs, out_png, names=None, title=None, panels=CLASSIFICATION_PANELS):
    """Draw ``panels`` of the per-epoch metrics of ``runs`` side by side into ``out_png``.

    Parameters
    ----------
    runs : list of str
        Run folders (holding ``metrics.jsonl``) or ``metrics.jsonl`` paths.
    out_png : str
        Output image path (folders are created; written atomically).
    names : list of str, optional
        Legend names, default the folder names.
    title : str, optional
    panels : sequence of (title, ylabel, keys)
        What to draw; see :data:`CLASSIFICATION_PANELS` and the other presets.
    """
    import matplotlib.pyplot as plt
    fig = curves_figure(runs, names, title, panels)
    atomic_write(out_png, lambda tmp: fig.savefig(tmp, format='png', dpi=100))
    plt.close(fig)
    return out_png


def curves_figure(runs, names=None, title=None, panels=CLASSIFICATION_PANELS):
    """The matplotlib figure :func:`plot_curves` saves (same arguments, no output path)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not runs:
        raise ValueError('give at least one run folder or metrics.jsonl file')
    names = list(names) if names else [os.path.basename(os.path.normpath(
        r if os.path.isdir(r) else os.path.dirname(os.path.abspath(r)))) for r in runs]
    if len(names) != len(runs):
        raise ValueError('%d names for %d runs' % (len(names), len(runs)))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    last_epoch = 1
    for run, name in zip(runs, names):
        path = os.path.join(run, 'metrics.jsonl') if os.path.isdir(run) else run
        if not os.path.isfile(path):
            plt.close(fig)
            raise FileNotFoundError('no metrics file %s' % path)
        rows = read_metrics(path)
        if not rows:
            plt.close(fig)
            raise ValueError('no epoch in %s' % path)
        last_epoch = max([last_epoch] + [r['epoch'] + 1 for r in rows if 'epoch' in r])
        color = None
        for ax, (_, _, keys) in zip(axes[0], panels):
            for key in keys:
                points = [(r['epoch'] + 1, r[key]) for r in rows if key in r]
                if not points:
                    continue
                label = name if len(keys) == 1 else '%s %s' % (name, key)
                dashed = key.startswith('train_') and len(keys) > 1
                line, = ax.plot(*zip(*points), '--' if dashed else '-', color=color,
                                label=label, marker='o', markersize=3 if len(points) > 1 else 5)
                color = line.get_color()  # one colour per run across panels
    for ax, (panel_title, ylabel, _) in zip(axes[0], panels):
        ax.set(xlabel='epoch', ylabel=ylabel, title=panel_title, xlim=(0.5, last_epoch + 0.5))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize='small')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
