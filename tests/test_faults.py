"""Faults while training: SIGKILL at random moments (in the loop and inside checkpoint writes)
and a full disk while checkpointing. After every kill the folder holds a complete, consistent
checkpoint (or none yet), ``--resume`` continues from it, and the run ends with exactly the
parameters of an uninterrupted run."""
import errno
import glob
import os
import random
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest

from cifar_archives import write_python_archive
from command_helpers import fails_with
from gluon_aff.commands import train_cifar
from gluon_aff.training import read_metrics
from gluon_aff.training.checkpoint import checkpoint_files, read_state, verify_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
EPOCHS = 4
ARGS = ['--host', 'resnet', '--fusion', 'aff', '--blocks', '1', '--version', 'paper',
        '--batch-size', '16', '-j', '0', '--no-progress', '--no-hybridize', '--recipe', 'final',
        '--epochs', str(EPOCHS), '--warmup-epochs', '1', '--mixup-off-epochs', '1',
        '--seed', '3']

# The child: the real command, with every rename slowed down so that random kill times often
# fall inside a checkpoint write (between the files of a set, or between write and rename).
CHILD = '''
import os, sys, time
_replace = os.replace
def slow_replace(a, b):
    time.sleep(0.03)
    _replace(a, b)
    time.sleep(0.03)
os.replace = slow_replace
from gluon_aff.cli import run
from gluon_aff.commands import train_cifar
print('READY', flush=True)
sys.exit(run(train_cifar.main, sys.argv[1:]))
'''


@pytest.fixture(scope='module')
def cifar_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('cifar')
    write_python_archive(str(folder), n_train=64, n_test=32)
    return str(folder)


@pytest.fixture(scope='module')
def reference(cifar_dir, tmp_path_factory):
    """Final parameters and losses of the uninterrupted run."""
    run = str(tmp_path_factory.mktemp('ref') / 'run')
    train_cifar.main(ARGS + ['--data-dir', cifar_dir, '--save-dir', run])
    return _params(os.path.join(run, 'last')), read_metrics(run)


def _params(prefix):
    return {k: v.asnumpy() for k, v in mx.nd.load(prefix + '.params').items()}


def _check_consistent(run):
    """The complete checkpoint in ``run`` (if any) is one set: its files are the ones its JSON
    was saved with. Returns its epoch or None."""
    prefix = os.path.join(run, 'last')
    if not checkpoint_files(prefix):
        return None
    state = read_state(prefix)
    verify_files(prefix, state)
    return state['epoch']


def _kill_and_resume(run, cifar_dir, rng, kills, window):
    """Start the child, SIGKILL it ``kills`` times at random moments, then let it finish.
    Returns how many kills left an unfinished checkpoint write behind."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TESTS, os.environ.get(
        'PYTHONPATH', '')]), OMP_NUM_THREADS='1')
    mid_write = 0
    for attempt in range(kills + 1):
        has_checkpoint = _check_consistent(run) is not None
        flags = ['--resume', run] if has_checkpoint else (
            ['--save-dir', run] + (['--overwrite'] if os.path.exists(run) else []))
        child = subprocess.Popen([sys.executable, '-c', CHILD] + ARGS + ['--data-dir', cifar_dir]
                                 + flags, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=env, text=True)
        assert child.stdout.readline().strip() == 'READY', child.stderr.read()[-3000:]
        if attempt < kills:
            time.sleep(rng.uniform(0, window))
            child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=300)
        if attempt < kills and child.returncode == -signal.SIGKILL:
            leftovers = glob.glob(os.path.join(run, '*.new')) + glob.glob(os.path.join(run,
                                                                                       '.*.tmp'))
            mid_write += bool(leftovers)
            _check_consistent(run)
            continue
        assert child.returncode == 0, err[-3000:]
        return mid_write
    raise AssertionError('the run never finished')


def _assert_same_as_reference(run, reference):
    params, rows = reference
    final = _params(os.path.join(run, 'last'))
    assert sorted(final) == sorted(params)
    for key in params:  # identical up to float32 round-off of the same CPU ops (exact here)
        np.testing.assert_allclose(final[key], params[key], rtol=0, atol=1e-6, err_msg=key)
    resumed = read_metrics(run)
    assert [r['epoch'] for r in resumed] == list(range(EPOCHS))
    assert [r['train_loss'] for r in resumed] == pytest.approx([r['train_loss'] for r in rows],
                                                               rel=1e-6)


def test_sigkill_then_resume_short(cifar_dir, reference, tmp_path):
    run = str(tmp_path / 'run')
    _kill_and_resume(run, cifar_dir, random.Random(0), kills=1, window=4.0)
    _assert_same_as_reference(run, reference)


@pytest.mark.slow
def test_sigkill_many_seeds(cifar_dir, reference, tmp_path):
    mid_write = 0
    for seed in range(6):
        run = str(tmp_path / ('run%d' % seed))
        mid_write += _kill_and_resume(run, cifar_dir, random.Random(seed), kills=3, window=5.0)
        _assert_same_as_reference(run, reference)
    assert mid_write > 0, 'no kill landed inside a checkpoint write: widen the window'


def test_full_disk_while_checkpointing(cifar_dir, tmp_path, capsys, monkeypatch):
    run = str(tmp_path / 'run')
    args = ARGS + ['--data-dir', cifar_dir]

    def stop_after(epoch_to_stop):
        def callback(epoch, row):
            if epoch == epoch_to_stop:
                raise KeyboardInterrupt
        return callback
    original = train_cifar.train_classifier

    def with_callback(*a, **kw):
        kw['callbacks'] = [stop_after(0)]
        return original(*a, **kw)
    monkeypatch.setattr(train_cifar, 'train_classifier', with_callback)
    with pytest.raises(KeyboardInterrupt):
        train_cifar.main(args + ['--save-dir', run])
    monkeypatch.setattr(train_cifar, 'train_classifier', original)
    before = {f: open(os.path.join(run, f), 'rb').read()
              for f in ('last.params', 'last.states', 'last.json')}

    def full_disk(self, filename):  # the trainer state of epoch 1 does not fit on the disk
        with open(filename, 'wb') as f:
            f.write(b'partial')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
    monkeypatch.setattr(mx.gluon.Trainer, 'save_states', full_disk)
    line = fails_with(train_cifar.main, ['--resume', run], 'no space left on the device',
                      capsys)
    assert os.path.join(run, 'last') in line and 'epoch 0) is intact' in line
    assert '--resume' in line
    after = {f: open(os.path.join(run, f), 'rb').read() for f in before}
    assert after == before
    assert not glob.glob(os.path.join(run, '*.new')) + glob.glob(os.path.join(run, '.*.tmp'))
    assert _check_consistent(run) == 0
    monkeypatch.undo()
    assert train_cifar.main(['--resume', run])['last']['epoch'] == EPOCHS - 1
