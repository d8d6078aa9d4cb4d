"""Horovod (optional): 2 processes of the ImageNet trainer over gloo, and the error without it.

Horovod is not part of the pinned stack (it is compiled against the installed MXNet; see
docs/imagenet.md, "Horovod"). The 2-process test runs with the first Python that imports
``horovod.mxnet``: ``GLUON_AFF_HOROVOD_PYTHON`` (e.g. a venv made by ``GLUON_AFF_HOROVOD=1
bash bootstrap.sh setup``) or the test's own; it is skipped, with that reason, when neither has
it. As a worker (``horovodrun ... python tests/test_horovod.py OUT``) this file trains the tiny
model on its half of a generated RecordIO set and saves its parameters and losses.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_ENV = 'GLUON_AFF_HOROVOD_PYTHON'
EPOCHS = 3


def _has_horovod(python):
    return subprocess.run([python, '-c', 'import horovod.mxnet'], capture_output=True,
                          timeout=120).returncode == 0


def _horovod_python():
    for python in (os.environ.get(PYTHON_ENV), sys.executable):
        if python and _has_horovod(python):
            return python
    return None


def worker_main(out):
    sys.path.insert(0, ROOT)
    from gluon_aff.training.imagenet_run import train_imagenet
    losses = []
    res = train_imagenet(
        'cifar_aff_resnet_b1', os.path.join(out, 'run'), 'final',
        rec_train=os.path.join(out, 'tiny.rec'), rec_train_idx=os.path.join(out, 'tiny.idx'),
        batch_size=16, lr=0.1 * 512 / 16, epochs=EPOCHS, warmup_epochs=1, mixup=False,
        label_smoothing=0.0, dtype='float32', kvstore='horovod', input_size=32, classes=4,
        model_kwargs={'channels': [8, 8, 16, 32]}, seed=3, data_threads=1, progress=False,
        validate=False, save_frequency=0,
        callbacks=[lambda epoch, row: losses.append(row['train_loss'])])
    params = {k: v.data().asnumpy() for k, v in res['net'].collect_params().items()
              if v.grad_req != 'null'}
    np.savez(os.path.join(out, 'rank%d.npz' % res['rank']), **params)
    with open(os.path.join(out, 'rank%d.json' % res['rank']), 'w') as f:
        json.dump({'losses': losses, 'num_workers': res['num_workers']}, f)


@pytest.mark.slow
def test_horovod_two_processes_stay_identical(tmp_path):
    python = _horovod_python()
    if python is None:
        pytest.skip('horovod with MXNet support is not installed (optional: GLUON_AFF_HOROVOD=1 '
                    'bash bootstrap.sh setup; set %s to a Python that has it)' % PYTHON_ENV)
    from gluon_aff.data.imagenet import write_tiny_recordio
    out = str(tmp_path)
    write_tiny_recordio(os.path.join(out, 'tiny'), num_images=32, classes=4, size=48, seed=0)
    horovodrun = os.path.join(os.path.dirname(python), 'horovodrun')
    env = dict(os.environ, OMP_NUM_THREADS='1', MXNET_CPU_WORKER_NTHREADS='1',
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([horovodrun, '-np', '2', '-H', 'localhost:2', '--gloo',
                           '--start-timeout', '60', python, os.path.abspath(__file__), out],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    a, b = np.load(os.path.join(out, 'rank0.npz')), np.load(os.path.join(out, 'rank1.npz'))
    assert sorted(a.files) == sorted(b.files) and len(a.files) > 50
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for rank in (0, 1):
        info = json.load(open(os.path.join(out, 'rank%d.json' % rank)))
        assert info['num_workers'] == 2
        assert len(info['losses']) == EPOCHS and info['losses'][-1] < info['losses'][0]
    with open(os.path.join(out, 'run', 'last.json')) as f:
        assert json.load(f)['epoch'] == EPOCHS - 1   # rank 0 checkpointed


def test_horovod_kvstore_without_horovod_is_one_error_line(tmp_path):
    if _has_horovod(sys.executable):
        pytest.skip('horovod is installed in this Python')
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'scripts', 'train_imagenet.py'), '--kvstore',
         'horovod', '--model', 'cifar_aff_resnet_b1', '--save-dir', str(tmp_path / 'run'),
         '--rec-train', str(tmp_path / 'x.rec'), '--rec-train-idx', str(tmp_path / 'x.idx')],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: kvstore 'horovod' needs horovod"), \
        proc.stderr
    assert 'HOROVOD_WITH_MXNET=1' in lines[0] and 'pip install' in lines[0]


if __name__ == '__main__':
    worker_main(sys.argv[1])
