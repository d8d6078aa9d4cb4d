"""Training logs of the original open-aff code, read as data.

Every log of the original starts each run with the script's argparse ``Namespace(...)`` line (the
exact options of that run) and then one line per epoch or per ``log_interval`` batches. A log
holds several runs when the script was restarted or resumed into the same file: each
``Namespace`` line opens a new *segment* (0-based, in file order), which owns the lines up to the
next one. Segments that logged nothing (a ``--summary`` call, a crash at start-up) are kept, so
that segment numbers are the Namespace lines' order.

Lines understood (an ``INFO:root:`` prefix and stray bytes before it are ignored):

* CIFAR (``train_cifar.py``): ``[Epoch e] train=.. val=.. loss=.. [lr: ..] time: ..`` (the lr
  column exists in the final code only);
* ImageNet (``train_imagenet.py``): ``Epoch[e] Batch [b]\\tSpeed: .. samples/sec\\t<metric>=..
  \\tlr=..`` every ``log_interval`` batches, and per epoch ``[Epoch e] training: <metric>=..``,
  ``[Epoch e] speed: .. samples/sec\\ttime cost: ..``, ``[Epoch e] validation: err-top1=..
  err-top5=..``.

The original's ``<dataset>_<host>_GPU_<gpus>_best_Acc.log`` files (``best Acc: 0.8967`` lines, no
Namespace) parse too: their values go to ``OpenAFFLog.best_acc``. Lines not understood are kept
(``OpenAFFLog.preamble`` before the first Namespace, ``Segment.other`` after it).

>>> log = read_log('train_cifar100-ASKCFuse-resnet-32-c-4-s-1.log.gz')    # doctest: +SKIP
>>> run = log.segments[log.default_segment()]                            # doctest: +SKIP
>>> run.namespace['warmup_epochs'], run.epochs[0]['lr']                  # doctest: +SKIP
(20, 0.010005)
"""
import ast
import gzip
import os
import re
from dataclasses import dataclass, field

__all__ = ['Segment', 'OpenAFFLog', 'read_log', 'parse_log', 'parse_namespace', 'log_task',
           'code_version']

_NAMESPACE = re.compile(r'Namespace\((.*)\)\s*$')
_NUM = r'([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)'
_CIFAR_EPOCH = re.compile(r'\[Epoch (\d+)\] train=%s val=%s loss=%s(?: lr: %s)? time: %s\s*$'
                          % ((_NUM,) * 5))
_BATCH = re.compile(r'Epoch\[(\d+)\] Batch \[(\d+)\]\tSpeed: %s samples/sec\t([\w-]+)=%s'
                    r'\tlr=%s\s*$' % (_NUM, _NUM, _NUM))
_TRAINING = re.compile(r'\[Epoch (\d+)\] training: ([\w-]+)=%s\s*$' % _NUM)
_SPEED = re.compile(r'\[Epoch (\d+)\] speed: %s samples/sec\ttime cost: %s\s*$' % (_NUM, _NUM))
_BEST_ACC = re.compile(r'^best Acc: %s\s*$' % _NUM)
_VALIDATION = re.compile(r'\[Epoch (\d+)\] validation: err-top1=%s err-top5=%s\s*$'
                         % (_NUM, _NUM))


def parse_namespace(text):
    """The options of one ``Namespace(k=v, ...)`` line as a dict of Python values.

    Values are read as Python literals (strings, numbers, booleans, ``None``), so the types are
    the ones argparse gave the run: ``Namespace(lr=0.2, gpus='0,1', resume_from=None)`` gives
    ``{'lr': 0.2, 'gpus': '0,1', 'resume_from': None}``.

    Raises
    ------
    ValueError
        ``text`` holds no ``Namespace(...)`` or a value that is not a literal.
    """
    match = _NAMESPACE.search(text)
    if not match:
        raise ValueError('not a Namespace(...) line: %r' % text[:80])
    try:
        call = ast.parse('f(%s)' % match.group(1), mode='eval').body
        return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    except (SyntaxError, ValueError) as err:
        raise ValueError('cannot read the Namespace line %r: %s' % (text[:80], err))


@dataclass
class Segment:
    """One run of a log: its Namespace and the records logged after it.

    Attributes
    ----------
    index : int
        0-based position among the log's Namespace lines.
    line : int
        1-based line number of the Namespace line.
    namespace : dict
        The run's options (:func:`parse_namespace`).
    epochs : list of dict
        One dict per epoch, in log order. CIFAR: ``epoch, train, val, loss, lr`` (``lr`` None
        when not logged), ``time``. ImageNet: ``epoch`` and whichever of ``train_metric``,
        ``train_value``, ``speed``, ``time``, ``err_top1``, ``err_top5`` were logged.
    batches : list of dict
        ImageNet ``Epoch[e] Batch [b]`` lines: ``epoch, batch, speed, metric, value, lr``.
    other : list of str
        Lines not understood.
    """
    index: int
    line: int
    namespace: dict
    epochs: list = field(default_factory=list)
    batches: list = field(default_factory=list)
    other: list = field(default_factory=list)

    @property
    def trained(self):
        """Whether the run logged any epoch or batch."""
        return bool(self.epochs or self.batches)

    def logged_lr(self):
        """``[(epoch, batch, lr)]`` of every lr the run printed, in log order.

        ImageNet batch lines give their own ``batch``; a CIFAR epoch line gives ``batch=None``
        (its lr is the one of the epoch's last update).
        """
        if self.batches:
            return [(b['epoch'], b['batch'], b['lr']) for b in self.batches]
        return [(e['epoch'], None, e['lr']) for e in self.epochs if e.get('lr') is not None]


@dataclass
class OpenAFFLog:
    """A parsed log: ``path``, ``segments`` (list of :class:`Segment`), lines before the first
    Namespace (``preamble``) and the values of ``best Acc:`` lines (``best_acc``)."""
    path: str
    segments: list
    preamble: list = field(default_factory=list)
    best_acc: list = field(default_factory=list)

    def default_segment(self):
        """Index of the run a replay uses by default: the last segment that logged training,
        else the last segment (``ValueError`` for a log without any Namespace)."""
        if not self.segments:
            what = ("the original's best-accuracy file, not its training log" if self.best_acc
                    else 'not a training log of the original open-aff code')
            raise ValueError('%s holds no Namespace(...) line: %s' % (self.path, what))
        trained = [s.index for s in self.segments if s.trained]
        return trained[-1] if trained else self.segments[-1].index

    def segment(self, index=None):
        """Segment ``index`` (0-based; negative counts from the end; None: the default)."""
        if index is None:
            return self.segments[self.default_segment()]
        if not self.segments:
            self.default_segment()
        if not -len(self.segments) <= index < len(self.segments):
            raise ValueError('%s has %d segment(s) (Namespace lines), no segment %d'
                             % (self.path, len(self.segments), index))
        return self.segments[index]


def _float(text):
    return float(text)


def _parse_record(line, segment):
    match = _CIFAR_EPOCH.search(line)
    if match:
        e, train, val, loss, lr, time = match.groups()
        segment.epochs.append({'epoch': int(e), 'train': _float(train), 'val': _float(val),
                               'loss': _float(loss), 'lr': None if lr is None else _float(lr),
                               'time': _float(time)})
        return True
    match = _BATCH.search(line)
    if match:
        e, b, speed, metric, value, lr = match.groups()
        segment.batches.append({'epoch': int(e), 'batch': int(b), 'speed': _float(speed),
                                'metric': metric, 'value': _float(value), 'lr': _float(lr)})
        return True
    for regex, keys in ((_TRAINING, ('train_metric', 'train_value')),
                        (_SPEED, ('speed', 'time')),
                        (_VALIDATION, ('err_top1', 'err_top5'))):
        match = regex.search(line)
        if match:
            epoch = int(match.group(1))
            values = match.groups()[1:]
            record = segment.epochs[-1] if segment.epochs and \
                segment.epochs[-1]['epoch'] == epoch and not set(keys) & set(segment.epochs[-1]) \
                else None
            if record is None:
                record = {'epoch': epoch}
                segment.epochs.append(record)
            for key, value in zip(keys, values):
                record[key] = value if key == 'train_metric' else _float(value)
            return True
    return False


def parse_log(lines, path='<log>'):
    """Parse the lines of a log (str, without or with newlines) into an :class:`OpenAFFLog`."""
    log = OpenAFFLog(path=path, segments=[])
    for number, line in enumerate(lines, 1):
        line = line.rstrip('\r\n')
        if 'Namespace(' in line:
            log.segments.append(Segment(index=len(log.segments), line=number,
                                        namespace=parse_namespace(line)))
            continue
        if not line.strip():
            continue
        best = _BEST_ACC.search(line)
        if best:
            log.best_acc.append(float(best.group(1)))
        elif not log.segments:
            log.preamble.append(line)
        elif not _parse_record(line, log.segments[-1]):
            log.segments[-1].other.append(line)
    return log


def read_log(path):
    """Read a log of the original (plain text or gzip, by content) into an :class:`OpenAFFLog`.

    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` for a broken gzip file. A
    file without any Namespace line parses to a log without segments (replaying it raises).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError('log file not found: %s' % path)
    with open(path, 'rb') as f:
        raw = f.read()
    if raw[:2] == b'\x1f\x8b':
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError('%s is not a readable gzip file (%s)' % (path, err))
    # a crashed run can leave NUL bytes in the file; they never fall inside a record
    text = raw.decode('utf-8', errors='replace').replace('\x00', '')
    return parse_log(text.splitlines(), path=path)


def log_task(namespace):
    """``'cifar'`` or ``'imagenet'``: the script that wrote a Namespace (its options tell)."""
    if 'dataset' in namespace:
        return 'cifar'
    if 'rec_train' in namespace or 'num_gpus' in namespace:
        return 'imagenet'
    raise ValueError('cannot tell which open-aff script wrote Namespace(%s...)'
                     % ', '.join(sorted(namespace))[:80])


def code_version(namespace):
    """``'final'`` or ``'paper'``: which open-aff ``train_*.py`` wrote a Namespace.

    CIFAR: the final code (0bcfd8a and its forerunners with AutoAugment) has ``auto_aug``; the
    paper-version script (806562e and older) has not. ImageNet: the final code has
    ``num_layer`` (``--num-layer``); the paper-version one has not.
    """
    if log_task(namespace) == 'cifar':
        return 'final' if 'auto_aug' in namespace else 'paper'
    return 'final' if 'num_layer' in namespace else 'paper'
