"""Atomic, consistent, resumable checkpoints.

A checkpoint ``{prefix}`` is three files of the same epoch:

* ``{prefix}.params``  - ``net.save_parameters`` (structural names; loads with ``load_parameters``)
* ``{prefix}.states``  - ``trainer.save_states`` (optimizer state, incl. momentum and lr schedule)
* ``{prefix}.json``    - epoch, RNG states, metrics, the model record and the SHA-1 of the two
  files above

They are replaced as one set, so that a process killed at any moment (or a full disk) leaves
either the previous set or the new one, never a mix:

1. the new files are written as ``{prefix}.params.new``, ``{prefix}.states.new`` and finally
   ``{prefix}.json.new`` (each through a temporary file + ``os.replace``, flushed to disk);
   ``{prefix}.json.new`` existing is the commit point;
2. the ``.new`` files are renamed over the old ones, ``.json`` last.

:func:`recover_checkpoint` (run before resuming and before every save) finishes step 2 when
``{prefix}.json.new`` exists and otherwise removes the leftovers of an unfinished step 1. Readers
that must not modify the folder (evaluation) use :func:`checkpoint_files`, the same rule
without renaming. Every file is created with mode ``0666 & ~umask`` (0644 under the usual umask).
"""
import errno
import glob
import hashlib
import json
import os
import pickle
import random
import shutil
import tempfile

import mxnet as mx
import numpy as np

from ..errors import MissingInputError, UserError

__all__ = ['atomic_write', 'save_checkpoint', 'load_checkpoint', 'latest_checkpoint',
           'require_checkpoint', 'recover_checkpoint', 'checkpoint_files', 'read_state',
           'copy_checkpoint', 'rng_state', 'set_rng_state', 'seed_everything', 'file_mode']

EXTENSIONS = ('.params', '.states', '.json')
_NEW = '.new'


def file_mode():
    """Permission bits of a new file under the process umask (0644 under umask 022)."""
    try:  # Linux: read the umask without changing it (other threads may create files)
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write_fn):
    """Call ``write_fn(tmp_path)``, flush it to disk, then rename it to ``path`` atomically.

    The file gets :func:`file_mode` permissions (``tempfile.mkstemp`` alone would leave 0600).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp',
                               dir=directory)
    os.close(fd)
    try:
        write_fn(tmp)
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def seed_everything(seed):
    """Seed Python, NumPy and MXNet RNGs."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def rng_state():
    """JSON-serialisable Python and NumPy RNG states (MXNet's cannot be read back)."""
    np_state = np.random.get_state()
    return {'python': [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
            'numpy': [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]),
                      float(np_state[4])]}


def set_rng_state(state, mx_seed=None):
    """Restore :func:`rng_state` output; MXNet is re-seeded with ``mx_seed`` when given."""
    py = state['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state['numpy']
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    if mx_seed is not None:
        mx.random.seed(mx_seed)


def _sha1(path):
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _leftovers(prefix):
    """Temporary files of unfinished writes of ``prefix`` (see :func:`atomic_write`)."""
    directory, base = os.path.split(os.path.abspath(prefix))
    return glob.glob(os.path.join(glob.escape(directory), '.%s.*.tmp' % glob.escape(base)))


def checkpoint_files(prefix):
    """``{ext: path}`` of the complete checkpoint at ``prefix`` (read-only view).

    A committed but not yet renamed set (``{prefix}.json.new`` present) is read from its
    ``.new`` files; ``{}`` when there is no complete checkpoint.
    """
    if os.path.isfile(prefix + '.json' + _NEW):
        return {ext: (prefix + ext + _NEW if os.path.isfile(prefix + ext + _NEW)
                      else prefix + ext) for ext in EXTENSIONS}
    if os.path.isfile(prefix + '.json'):
        return {ext: prefix + ext for ext in EXTENSIONS}
    return {}


def _commit(prefix):
    for ext in EXTENSIONS:  # .json last: until it is renamed the .new set stays the valid one
        if os.path.isfile(prefix + ext + _NEW):
            os.replace(prefix + ext + _NEW, prefix + ext)
    _fsync_dir(os.path.dirname(os.path.abspath(prefix)))


def recover_checkpoint(prefix):
    """Finish an interrupted save of ``prefix`` or drop its incomplete files; return ``prefix``
    if a complete checkpoint is there afterwards, else None."""
    if os.path.isfile(prefix + '.json' + _NEW):
        _commit(prefix)
    for path in [prefix + ext + _NEW for ext in EXTENSIONS] + _leftovers(prefix):
        if os.path.exists(path):
            os.remove(path)
    return prefix if os.path.isfile(prefix + '.json') else None


def save_checkpoint(prefix, net, trainer=None, **state):
    """Save ``net`` (and ``trainer``) with ``state`` as one consistent set (module docstring).

    ``state`` must be JSON-serialisable (epoch, metrics, model record...); RNG states and the
    SHA-1 of the params/states files are added. A full disk raises :class:`UserError` naming the
    file, with the previous checkpoint intact. Call it after ``mx.nd.waitall()`` (as
    :func:`~gluon_aff.training.fit` does): BatchNorm's running statistics are written in the
    backward pass unseen by MXNet's engine.
    """
    recover_checkpoint(prefix)
    files = {}
    try:
        atomic_write(prefix + '.params' + _NEW, net.save_parameters)
        files['params'] = _sha1(prefix + '.params' + _NEW)
        if trainer is not None:
            atomic_write(prefix + '.states' + _NEW, trainer.save_states)
            files['states'] = _sha1(prefix + '.states' + _NEW)
        state = dict(state, rng=rng_state(), has_states=trainer is not None, files=files)

        def dump(tmp):
            with open(tmp, 'w') as f:
                json.dump(state, f, indent=1, sort_keys=True)
        atomic_write(prefix + '.json' + _NEW, dump)
    except OSError as err:
        recover_checkpoint(prefix)  # drops the unfinished .new files; the old set stays
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            previous = _describe_previous(prefix)
            raise UserError('no space left on the device while writing the checkpoint %s (%s); '
                            '%s. Free some space, then continue with --resume'
                            % (prefix, os.strerror(err.errno), previous)) from err
        raise
    _commit(prefix)
    return prefix


def _describe_previous(prefix):
    path = prefix + '.json'
    if not os.path.isfile(path):
        return 'no earlier checkpoint existed'
    try:
        with open(path) as f:
            return 'the previous checkpoint (epoch %s) is intact' % json.load(f).get('epoch')
    except (OSError, ValueError):
        return 'the previous checkpoint files are untouched'


def read_state(prefix):
    """The JSON state of the checkpoint at ``prefix``; :class:`UserError` naming the file if it
    is missing or not a checkpoint state."""
    path = checkpoint_files(prefix).get('.json')
    if path is None:
        raise MissingInputError('no complete checkpoint at %s (%s.json is missing)'
                                % (prefix, prefix))
    try:
        with open(path) as f:
            state = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError('%s is not a checkpoint state (invalid JSON: %s): the checkpoint is '
                        'damaged; restore the file or start the run again with --overwrite'
                        % (path, err)) from None
    if not isinstance(state, dict) or 'epoch' not in state:
        raise UserError('%s is not a checkpoint state (no "epoch"): restore the file or start '
                        'the run again with --overwrite' % path)
    return state


def verify_files(prefix, state, keys=('params', 'states')):
    """Raise :class:`UserError` if the ``keys`` files are not the ones ``state`` was saved with
    (another epoch's file, a truncated or replaced one)."""
    paths = checkpoint_files(prefix)
    for key in keys:
        ext = '.' + key
        want = state.get('files', {}).get(key)
        if want is None:
            continue
        path = paths[ext]
        if not os.path.isfile(path):
            raise MissingInputError('%s is missing (its checkpoint state %s names it): restore '
                                    'it or start the run again with --overwrite'
                                    % (path, paths['.json']))
        if _sha1(path) != want:
            raise UserError('%s does not belong to %s (SHA-1 differs: the file was replaced, '
                            'truncated or damaged): restore it or start the run again with '
                            '--overwrite' % (path, paths['.json']))


def load_params_file(net, path, ctx=None):
    """``net.load_parameters(path)`` with a :class:`UserError` naming the file when it is not a
    parameter file of this network."""
    try:
        net.load_parameters(path, ctx=ctx)
    except (mx.base.MXNetError, AssertionError, ValueError, OSError) as err:
        reason = [line for line in str(err).splitlines() if line.strip()]
        raise UserError('%s cannot be loaded into %s (%s): it is damaged or holds another '
                        'network' % (path, type(net).__name__,
                                     reason[0][:200] if reason else type(err).__name__)) \
            from None


def load_checkpoint(prefix, net, trainer=None, ctx=None, restore_rng=True):
    """Load a checkpoint written by :func:`save_checkpoint`; return its state dict.

    Damaged or mismatched files raise :class:`UserError` naming the file.
    """
    state = read_state(prefix)
    verify_files(prefix, state)
    paths = checkpoint_files(prefix)
    load_params_file(net, paths['.params'], ctx)
    if trainer is not None and state.get('has_states'):
        try:
            trainer.load_states(paths['.states'])
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError,
                AttributeError, IndexError, mx.base.MXNetError) as err:
            raise UserError('%s is not a readable trainer state (%s: %s): restore it or start '
                            'the run again with --overwrite'
                            % (paths['.states'], type(err).__name__, str(err)[:200])) from None
    if restore_rng and 'rng' in state:
        set_rng_state(state['rng'])
    return state


def latest_checkpoint(directory, prefix='last'):
    """Return ``directory/prefix`` if a complete checkpoint is there, else None."""
    path = os.path.join(directory, prefix)
    return path if checkpoint_files(path) else None


def require_checkpoint(directory, prefix='last'):
    """:func:`latest_checkpoint`, raising :class:`MissingInputError` if there is none."""
    path = latest_checkpoint(directory, prefix)
    if path is None:
        raise MissingInputError('cannot resume: %s holds no complete checkpoint (%s.json); '
                                'start the run without --resume (or with --overwrite)'
                                % (directory, prefix))
    return path


def copy_checkpoint(src_prefix, dst_prefix):
    """Copy the complete checkpoint ``src_prefix`` to ``dst_prefix`` as one consistent set."""
    recover_checkpoint(dst_prefix)
    paths = checkpoint_files(src_prefix)
    for ext in EXTENSIONS:
        if os.path.exists(paths.get(ext, '')):
            atomic_write(dst_prefix + ext + _NEW,
                         lambda tmp, src=paths[ext]: shutil.copyfile(src, tmp))
    _commit(dst_prefix)
    return dst_prefix
