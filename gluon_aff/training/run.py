"""The run folder: one object for creating, resuming and reading back a training run.

A run folder holds ``train.log``, ``metrics.jsonl``, the ``last``/``best`` checkpoints
(:mod:`~gluon_aff.training.checkpoint`), ``curves.png`` and, while a process trains in it,
``run.lock``. :class:`Run` opens one for training (a context manager):

* a new run refuses a folder that already holds a run, unless ``resume=True`` (continue from its
  last complete checkpoint) or ``overwrite=True`` (the old run is *moved* to ``NAME.old-N``,
  never deleted);
* a run that fails before its first checkpoint (a bad batch size, a missing GPU, NaN in epoch
  0, Ctrl-C) removes what it created -- and moves an overwritten run back;
* ``train.log`` records the data, sizes, labels, devices and recipe (written by the trainers),
  and every start, resume point, interruption and failure;
* ``run.lock`` names the live process (host, pid) and is touched every
  :attr:`Run.HEARTBEAT_S` seconds; it is removed when the process ends. :func:`run_status`
  reads it: *running* while the lock's process is alive (same host) or its heartbeat is fresh
  (another host, younger than :attr:`Run.STALE_AFTER_S`), otherwise *stopped*.

Every checkpoint records its network the same way, ``{'name': zoo name, 'kwargs': {...},
'card': model card}`` (:func:`model_record`), so :func:`load_run` rebuilds and loads any run, any
checkpoint prefix, or a bare ``.params`` file given with its zoo name, for every evaluation,
prediction, export and Grad-CAM command.
"""
import json
import os
import shutil
import socket
import sys
import threading
import time

from ..errors import MissingInputError, UserError
from .checkpoint import atomic_write, checkpoint_files, read_state, verify_files

__all__ = ['Run', 'check_run_flags', 'open_run', 'load_run', 'model_card', 'model_record', 'run_status',
           'holds_run', 'RUNNING', 'STOPPED']

RUNNING, STOPPED = 'running', 'stopped'

#: files whose presence means a folder holds a run
RUN_FILES = ('last.json', 'last.json.new', 'best.json', 'metrics.jsonl', 'train.log', 'run.lock')


# --------------------------------------------------------------------------- model record
def model_card(name):
    """The model card of zoo model ``name`` (:func:`gluon_aff.get_model_card`) as the JSON-ready
    dict a checkpoint records: ``task``, ``dataset``, ``input_size`` ``[H, W]``, ``mean``, ``std``,
    ``classes``, ``version``, ``source``... Every use of a model's metadata in the run layer goes
    through this function; an unknown name is a :class:`~gluon_aff.errors.UserError`."""
    from ..model_zoo import get_model_card
    try:
        card = get_model_card(name)
    except ValueError as err:
        raise UserError(str(err)) from None
    return json.loads(json.dumps(card.to_dict()))


def model_record(name, kwargs=None):
    """How a checkpoint records its network: ``{'name', 'kwargs', 'card'}`` (JSON-ready)."""
    kwargs = dict(kwargs or {})
    json.dumps(kwargs)  # fail now, not at the first checkpoint
    return {'name': name, 'kwargs': kwargs, 'card': model_card(name)}


def _build(name, kwargs):
    from ..model_zoo import get_model
    try:
        return get_model(name, **kwargs)
    except (ValueError, TypeError) as err:
        raise UserError('cannot build %s with %s: %s' % (name, kwargs, err)) from None


def _legacy_record(state, path):
    """The model of a checkpoint written before model records (``info.model_spec`` of the CIFAR
    trainer, ``info.model`` of the ImageNet and segmentation trainers)."""
    info = state.get('info') or {}
    if info.get('model_spec'):
        from .cifar import cifar_model_spec
        return dict(zip(('name', 'kwargs'), cifar_model_spec(**info['model_spec'])))
    if isinstance(info.get('model'), str):
        kwargs = dict(info.get('model_kwargs') or {})
        kwargs.update((k, info[k]) for k in ('classes', 'form', 'upsample') if k in info)
        return {'name': info['model'], 'kwargs': kwargs}
    raise UserError('%s does not say which network it holds: give --params FILE with --model '
                    'NAME instead' % path)


# --------------------------------------------------------------------------- load_run
def _checkpoint_prefix(path, which):
    """``(prefix or None, params file)`` for a run folder, a checkpoint prefix, a checkpoint's
    own file, or a bare ``.params`` file."""
    if os.path.isdir(path):
        for name in which:
            prefix = os.path.join(path, name)
            if checkpoint_files(prefix):
                return prefix
        raise MissingInputError('%s holds no checkpoint (%s): is it a run folder?'
                                % (path, ', '.join(n + '.json' for n in which)))
    for ext in ('.params', '.json', '.states'):
        if path.endswith(ext) and checkpoint_files(path[:-len(ext)]):
            return path[:-len(ext)]
    if checkpoint_files(path):
        return path
    if os.path.isfile(path):
        return None
    raise MissingInputError('no run folder, checkpoint or .params file at %s' % path)


def load_run(path, model=None, model_kwargs=None, ctx=None, which=('best', 'last')):
    """Rebuild and load a trained network: ``(net, state)``.

    Parameters
    ----------
    path : str
        A run folder (its first complete checkpoint of ``which``: best, else last), a checkpoint
        prefix (``runs/x/last``) or one of its files, or a bare ``.params`` file (gluon-aff or
        original open-aff, any layout :func:`gluon_aff.model_zoo.convert.load_original` reads).
    model : str, optional
        Zoo name: required for a bare ``.params`` file; for a checkpoint it must match the
        recorded one.
    model_kwargs : dict, optional
        Constructor arguments (``classes``...): for a bare file, how to build ``model``; for a
        checkpoint, overrides of the recorded ones.
    ctx : Context or list, default cpu()
    which : tuple of str
        Checkpoint names tried in a run folder.

    Returns
    -------
    net : HybridBlock
        Initialised with the checkpoint's weights (not hybridized).
    state : dict
        The checkpoint's JSON state (``epoch``, ``info``, ``metrics``...) with ``model`` (the
        record); for a bare file ``{'epoch': None, 'info': {}, 'model': record}``.

    Raises :class:`~gluon_aff.errors.UserError` naming the file when it is missing, damaged or
    holds another network.
    """
    from ..model_zoo.convert import NotAParamsFile, ParamsMismatch, load_original
    from .engine import as_context_list
    ctx = as_context_list(ctx)
    path = os.path.expanduser(path)
    prefix = _checkpoint_prefix(path, which)
    if prefix is not None:
        state = read_state(prefix)
        record = state.get('model') or _legacy_record(state, prefix + '.json')
        if model and model.lower() != record['name'].lower():
            raise UserError('%s holds %s, not %s: drop --model or give the matching run'
                            % (prefix, record['name'], model))
        verify_files(prefix, state, keys=('params',))
        kwargs = dict(record.get('kwargs') or {}, **(model_kwargs or {}))
        params = checkpoint_files(prefix)['.params']
        name = record['name']
    else:
        if not model:
            raise UserError('%s is a parameter file without a checkpoint state beside it: give '
                            '--model NAME (and --model-kwargs) to say which network it holds'
                            % path)
        name, kwargs, params = model, dict(model_kwargs or {}), path
        state = {'epoch': None, 'info': {}}
    record = model_record(name, kwargs)
    net = _build(name, kwargs)
    shape = (1, 3) + tuple(record['card']['input_size'])
    try:
        load_original(net, params, ctx=ctx, input_shape=shape)
    except FileNotFoundError as err:
        raise MissingInputError(str(err)) from None
    except ValueError as err:  # not a .params file, or another network's keys/shapes
        text = str(err)
        text = text[len(params):].lstrip(': ') if text.startswith(params) else text
        damaged = isinstance(err, NotAParamsFile)
        if not isinstance(err, (NotAParamsFile, ParamsMismatch)):
            text = 'does not fit %s: %s' % (name, text)
        hint = ('the checkpoint is damaged or holds another network' if prefix is not None
                else 'give a parameter file (net.save_parameters, or an original open-aff '
                '.params)' if damaged else
                'give the --model (and --model-kwargs) it was trained as')
        raise UserError('%s %s; %s' % (params, text, hint)) from None
    state = dict(state, model=record)
    return net, state


# --------------------------------------------------------------------------- liveness
def _process_start(pid):
    """Start time of ``pid`` (Linux clock ticks) or None where it cannot be read."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid, start=None):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start is None or _process_start(pid) in (None, start)


def _read_lock(directory):
    path = os.path.join(directory, Run.LOCK)
    try:
        with open(path) as f:
            lock = json.load(f)
        lock['heartbeat_age'] = time.time() - os.path.getmtime(path)
        return lock
    except (OSError, ValueError):
        return None


def _live_lock(directory):
    """The lock of the process training in ``directory`` if it is alive, else None."""
    lock = _read_lock(directory)
    if lock is None:
        return None
    if lock.get('host') == socket.gethostname():
        alive = _pid_alive(int(lock.get('pid', -1)), lock.get('start'))
    else:
        alive = lock['heartbeat_age'] < Run.STALE_AFTER_S
    return lock if alive else None


def run_status(directory):
    """:data:`RUNNING` if a live process trains in ``directory`` (see the module docstring),
    else :data:`STOPPED`."""
    return RUNNING if _live_lock(directory) else STOPPED


def holds_run(directory):
    """True if ``directory`` holds (part of) a run: a log, metrics or a checkpoint."""
    if not os.path.isdir(directory):
        return False
    names = set(os.listdir(directory))
    return bool(names.intersection(RUN_FILES)) or any(
        n.endswith(('.params', '.states', '.params.new', '.states.new')) for n in names)


def _aside_name(directory):
    n = 1
    while os.path.exists('%s.old-%d' % (directory, n)):
        n += 1
    return '%s.old-%d' % (directory, n)


# --------------------------------------------------------------------------- Run
def check_run_flags(save_dir, resume, overwrite):
    """Raise :class:`UserError` when ``--resume`` and ``--overwrite`` are both given."""
    if resume and overwrite:
        raise UserError('--resume continues the run in %s and --overwrite moves it aside: '
                        'give one of them' % save_dir)


class Run(object):
    """A training run's folder (see the module docstring); use as a context manager.

    Parameters
    ----------
    save_dir : str
        The folder (created if needed).
    resume : bool, default False
        Continue the run in ``save_dir`` from its last complete checkpoint.
    overwrite : bool, default False
        Start afresh; a run already in ``save_dir`` is moved to ``save_dir.old-N``.
    console : bool, default True
        ``train.log`` lines also go to stderr.

    Attributes
    ----------
    dir : str
        The folder. ``logger`` (while open): writes ``train.log``. ``moved_to``: where an
        overwritten run went.
    """
    LOCK = 'run.lock'
    #: seconds between two touches of ``run.lock``
    HEARTBEAT_S = 30.0
    #: a lock of another host not touched for this long belongs to a stopped process
    STALE_AFTER_S = 180.0

    def __init__(self, save_dir, resume=False, overwrite=False, console=True):
        check_run_flags(save_dir, resume, overwrite)
        self.dir = os.path.expanduser(str(save_dir))
        self.resume, self.overwrite, self.console = bool(resume), bool(overwrite), console
        self.logger, self.moved_to = None, None
        self._created_dir, self._before, self._stop = False, set(), None

    # -- checks ---------------------------------------------------------------
    @staticmethod
    def check(save_dir, resume=False, overwrite=False):
        """Raise :class:`UserError` if a run cannot be opened in ``save_dir`` with these flags
        (no side effects: commands call it before loading their data)."""
        directory = os.path.expanduser(str(save_dir))
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise UserError('%s is a file, not a run folder: choose another --save-dir'
                            % directory)
        lock = _live_lock(directory)
        if lock is not None:
            raise UserError('%s is in use by process %s on %s (started %s): wait for it to end '
                            'or stop it first' % (directory, lock.get('pid'), lock.get('host'),
                                                  lock.get('started')))
        if resume:
            if not os.path.isdir(directory):
                raise MissingInputError('cannot resume: %s does not exist' % directory)
            if not checkpoint_files(os.path.join(directory, 'last')):
                raise MissingInputError(
                    'cannot resume: %s holds no complete checkpoint (last.json); start the run '
                    'again with --overwrite' % directory)
        elif holds_run(directory) and not overwrite:
            raise UserError('%s already holds a run (%s): continue it with --resume, or start '
                            'afresh with --overwrite (the old run is moved to %s, not deleted)'
                            % (directory, _describe(directory), _aside_name(directory)))

    def last_epoch(self):
        """Epoch of the complete ``last`` checkpoint, or None."""
        try:
            return read_state(os.path.join(self.dir, 'last')).get('epoch')
        except UserError:
            return None

    # -- open / close -----------------------------------------------------------
    def open(self):
        """Check, create (or move aside and create) the folder, take the lock, start the log."""
        from .runlog import setup_logger
        self.check(self.dir, self.resume, self.overwrite)
        if self.overwrite and holds_run(self.dir):
            self.moved_to = _aside_name(self.dir)
            os.rename(self.dir, self.moved_to)
        if not os.path.isdir(self.dir):
            os.makedirs(self.dir)
            self._created_dir = True
        self._before = set(os.listdir(self.dir))
        self._write_lock()
        self.logger = setup_logger(self.dir, console=self.console)
        if self.resume:
            self.logger.info('resume: %s, after epoch %s (last.json); command: %s', self.dir,
                             self.last_epoch(), ' '.join(sys.argv))
        else:
            self.logger.info('start: new run in %s%s; command: %s', self.dir,
                             ' (previous run moved to %s)' % self.moved_to if self.moved_to
                             else '', ' '.join(sys.argv))
        return self

    def _write_lock(self):
        pid = os.getpid()
        lock = {'pid': pid, 'host': socket.gethostname(), 'start': _process_start(pid),
                'started': time.strftime('%Y-%m-%d %H:%M:%S'), 'argv': sys.argv}
        path = os.path.join(self.dir, self.LOCK)

        def dump(tmp):
            with open(tmp, 'w') as f:
                json.dump(lock, f)
        atomic_write(path, dump)
        self._stop = threading.Event()

        def beat(stop=self._stop):
            while not stop.wait(self.HEARTBEAT_S):
                try:
                    os.utime(path)
                except OSError:
                    return
        threading.Thread(target=beat, name='gluon-aff-heartbeat', daemon=True).start()

    def close(self, exc_type=None, exc=None):
        """Log how the run ended; after a failed start remove what it created; drop the lock."""
        if self._stop is None:
            return
        self._stop.set()
        epoch = self.last_epoch()
        failed_start = exc_type is not None and not self.resume and epoch is None
        log = self.logger
        if exc_type is None:
            log.info('end: %s, last checkpoint epoch %s', self.dir, epoch)
        elif issubclass(exc_type, KeyboardInterrupt):
            if epoch is None:
                log.warning('interrupted before the first checkpoint: nothing to resume')
            else:
                log.warning('interrupted; the last complete checkpoint is epoch %s (%s): '
                            'continue with --resume %s', epoch, os.path.join(self.dir, 'last'),
                            self.dir)
        else:  # the command line prints the error itself: the log file only
            log.error('stopped by %s: %s%s', exc_type.__name__, exc,
                      '' if epoch is None else '; the last complete checkpoint is epoch %s '
                      '(continue with --resume %s)' % (epoch, self.dir),
                      extra={'file_only': True})
        try:
            os.remove(os.path.join(self.dir, self.LOCK))
        except OSError:
            pass
        _close_file_handlers(log)
        if failed_start:
            self._remove_created()
        _close_all_handlers(log)
        self._stop = None

    def _remove_created(self):
        """Undo a failed start: remove the files this run created (the folder too if it made
        it) and move an overwritten run back."""
        if self._created_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            for name in set(os.listdir(self.dir)) - self._before:
                path = os.path.join(self.dir, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        restored = ''
        if self.moved_to and not os.path.exists(self.dir):
            os.rename(self.moved_to, self.dir)
            restored = '; the previous run is back in place'
        self.logger.warning('the run failed before its first checkpoint: removed what it '
                            'created in %s%s', self.dir, restored)

    def __enter__(self):
        return self.open()

    def __exit__(self, exc_type, exc, tb):
        self.close(exc_type, exc)
        return False

    def __repr__(self):
        return 'Run(%r, resume=%s)' % (self.dir, self.resume)


def _describe(directory):
    last = os.path.join(directory, 'last')
    if not checkpoint_files(last):
        return 'no complete checkpoint'
    try:
        return 'last checkpoint: epoch %s' % read_state(last)['epoch']
    except UserError:
        return 'a damaged last checkpoint'


def _close_file_handlers(logger):
    import logging
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            logger.removeHandler(handler)
            handler.close()


def _close_all_handlers(logger):
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def open_run(save_dir, resume=False, overwrite=False):
    """``save_dir`` itself if it is an open :class:`Run` (the caller closes it), else a new
    :class:`Run` to use as a context manager."""
    import contextlib
    if isinstance(save_dir, Run):
        return contextlib.nullcontext(save_dir)
    return Run(save_dir, resume=resume, overwrite=overwrite)
