"""Per-run logs: a text log, ``metrics.jsonl`` (one JSON object per epoch) and a NaN guard."""
import json
import logging
import math
import os

from ..errors import UserError
from .checkpoint import atomic_write

__all__ = ['setup_logger', 'MetricsWriter', 'read_metrics', 'NonFiniteLossError',
           'check_finite']


def setup_logger(save_dir, name='gluon_aff', filename='train.log', level=logging.INFO,
                 console=True):
    """Logger writing to ``save_dir/filename`` and (``console``) stderr, without duplicate
    handlers. A record logged with ``extra={'file_only': True}`` goes to the file only."""
    os.makedirs(save_dir, exist_ok=True)
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter('%(asctime)s %(levelname)s %(message)s')
    handlers = [logging.FileHandler(os.path.join(save_dir, filename))]
    if console:
        handlers.append(logging.StreamHandler())
        handlers[-1].addFilter(lambda record: not getattr(record, 'file_only', False))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    return logger


class MetricsWriter(object):
    """Append one JSON object per epoch to ``save_dir/metrics.jsonl``.

    On resume, rows of epochs at or after ``resume_epoch`` are dropped first, so the file never
    holds an epoch twice.
    """

    def __init__(self, save_dir, filename='metrics.jsonl', resume_epoch=None):
        self.path = os.path.join(save_dir, filename)
        os.makedirs(save_dir, exist_ok=True)
        if resume_epoch is not None and os.path.exists(self.path):
            keep = [r for r in read_metrics(self.path) if r.get('epoch', -1) < resume_epoch]

            def rewrite(tmp):  # atomically: a kill now must not lose the kept rows
                with open(tmp, 'w') as f:
                    f.writelines(json.dumps(r, sort_keys=True) + '\n' for r in keep)
            atomic_write(self.path, rewrite)
        elif resume_epoch is None and os.path.exists(self.path):
            os.remove(self.path)

    def write(self, **row):
        with open(self.path, 'a') as f:
            f.write(json.dumps(row, sort_keys=True) + '\n')
            f.flush()
            os.fsync(f.fileno())


def read_metrics(path):
    """Rows of a ``metrics.jsonl`` file (a directory is read as ``dir/metrics.jsonl``).

    A last line without its newline that does not parse (the process was killed while
    appending it) is skipped; any other bad line raises ``ValueError``.
    """
    if os.path.isdir(path):
        path = os.path.join(path, 'metrics.jsonl')
    with open(path) as f:
        lines = f.read().split('\n')
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            if i == len(lines) - 1:  # unterminated last line
                break
            raise ValueError('%s line %d is not JSON: %r' % (path, i + 1, line[:80])) from None
    return rows


class NonFiniteLossError(UserError, RuntimeError):
    """The training loss became NaN or infinite (a recipe or data problem the user fixes)."""


def check_finite(value, epoch, batch, checkpoint=None):
    """Raise :class:`NonFiniteLossError` with a clear message if ``value`` is NaN/inf."""
    if not math.isfinite(value):
        where = ('; the last good checkpoint is %s' % checkpoint) if checkpoint else ''
        raise NonFiniteLossError(
            'training loss became %s at epoch %d, batch %d%s. Lower the learning rate, check '
            'the data, or resume with --resume.' % (value, epoch, batch, where))
