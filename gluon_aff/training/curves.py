"""Training curves from ``metrics.jsonl`` files, drawn with matplotlib (several runs overlaid)."""
import os

from .runlog import read_metrics

__all__ = ['plot_curves']


def plot_curves(runs, out_png, names=None, title=None):
    """Draw train loss (left) and train/val accuracy (right) per epoch of ``runs`` to ``out_png``.

    Parameters
    ----------
    runs : list of str
        Run folders (holding ``metrics.jsonl``) or ``metrics.jsonl`` paths.
    out_png : str
        Output image path (folders are created).
    names : list of str, optional
        Legend names, default the folder names.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError('give at least one run folder or metrics.jsonl file')
    names = list(names) if names else [os.path.basename(os.path.normpath(
        r if os.path.isdir(r) else os.path.dirname(os.path.abspath(r)))) for r in runs]
    if len(names) != len(runs):
        raise ValueError('%d names for %d runs' % (len(names), len(runs)))
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for run, name in zip(runs, names):
        path = os.path.join(run, 'metrics.jsonl') if os.path.isdir(run) else run
        if not os.path.isfile(path):
            raise FileNotFoundError('no metrics file %s' % path)
        rows = read_metrics(path)
        epochs = [r['epoch'] + 1 for r in rows]
        line, = ax_loss.plot(epochs, [r['train_loss'] for r in rows], label=name)
        for key, style in (('train_acc', '--'), ('val_acc', '-')):
            points = [(e, r[key]) for e, r in zip(epochs, rows) if key in r]
            if points:
                ax_acc.plot(*zip(*points), style, color=line.get_color(),
                            label='%s %s' % (name, key.split('_')[0]))
    ax_loss.set(xlabel='epoch', ylabel='train loss', title='loss')
    ax_acc.set(xlabel='epoch', ylabel='accuracy', title='accuracy (dashed: train)')
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize='small')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
