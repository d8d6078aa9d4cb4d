"""Atomic, resumable checkpoints.

A checkpoint is a directory entry pair written with temp file + ``os.replace`` so a crash never
leaves a half-written file under the final name:

* ``{prefix}.params``  - ``net.save_parameters`` (structural names; loads with ``load_parameters``)
* ``{prefix}.states``  - ``trainer.save_states`` (optimizer state, incl. momentum)
* ``{prefix}.json``    - epoch, RNG states, metrics and anything else JSON-serialisable

``{prefix}.json`` is written last: its presence marks a complete checkpoint.
"""
import json
import os
import random
import tempfile

import mxnet as mx
import numpy as np

__all__ = ['atomic_write', 'save_checkpoint', 'load_checkpoint', 'latest_checkpoint',
           'require_checkpoint', 'rng_state', 'set_rng_state', 'seed_everything']


def atomic_write(path, write_fn):
    """Call ``write_fn(tmp_path)`` then atomically rename ``tmp_path`` to ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix=os.path.basename(path), dir=directory)
    os.close(fd)
    try:
        write_fn(tmp)
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


def save_checkpoint(prefix, net, trainer=None, **state):
    """Atomically save ``net`` (and ``trainer``) with ``state`` as ``{prefix}.params/.states/.json``.

    ``state`` must be JSON-serialisable (epoch, metrics, args...); RNG states are added.
    """
    atomic_write(prefix + '.params', net.save_parameters)
    if trainer is not None:
        atomic_write(prefix + '.states', trainer.save_states)
    state = dict(state, rng=rng_state(), has_states=trainer is not None)

    def dump(tmp):
        with open(tmp, 'w') as f:
            json.dump(state, f, indent=1, sort_keys=True)
    atomic_write(prefix + '.json', dump)
    return prefix


def load_checkpoint(prefix, net, trainer=None, ctx=None, restore_rng=True):
    """Load a checkpoint written by :func:`save_checkpoint`; return its state dict."""
    meta = prefix + '.json'
    if not os.path.isfile(meta):
        raise FileNotFoundError('no complete checkpoint at %s (missing %s)' % (prefix, meta))
    with open(meta) as f:
        state = json.load(f)
    net.load_parameters(prefix + '.params', ctx=ctx)
    if trainer is not None and state.get('has_states'):
        trainer.load_states(prefix + '.states')
    if restore_rng and 'rng' in state:
        set_rng_state(state['rng'])
    return state


def latest_checkpoint(directory, prefix='last'):
    """Return ``directory/prefix`` if a complete checkpoint is there, else None."""
    path = os.path.join(directory, prefix)
    return path if os.path.isfile(path + '.json') else None


def require_checkpoint(directory, prefix='last'):
    """:func:`latest_checkpoint`, raising ``FileNotFoundError`` (to resume from) if there is none."""
    path = latest_checkpoint(directory, prefix)
    if path is None:
        raise FileNotFoundError('cannot resume: %s holds no complete checkpoint (%s.json)'
                                % (directory, prefix))
    return path
