"""Parameter-server training on 127.0.0.1: 1 scheduler, 2 servers, 2 workers (dist_sync).

The test runs this file as the command of every role (see gluon_aff/training/distributed.py);
as a worker it trains the tiny model on its half of a generated RecordIO set and saves its final
parameters and losses.
"""
import json
import math
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import mxnet as mx  # noqa: E402,F401  (scheduler / server processes stop here and serve)

from gluon_aff.training.distributed import (DistLaunchError, dmlc_env, free_port,  # noqa: E402
                                            launch_local)

OUT_ENV = 'GLUON_AFF_DIST_TEST_OUT'
TIME_LIMIT = 60


def worker_main(out, uok):
    from gluon_aff.training.imagenet_run import train_imagenet
    rows = []
    res = train_imagenet(
        'cifar_aff_resnet_b1', os.path.join(out, 'run'), 'final',
        rec_train=os.path.join(out, 'tiny.rec'), rec_train_idx=os.path.join(out, 'tiny.idx'),
        batch_size=16, lr=0.1 * 512 / 16, epochs=4, warmup_epochs=1, mixup=False,
        label_smoothing=0.0, dtype='float32', kvstore='dist_sync', update_on_kvstore=uok,
        input_size=32, classes=4, model_kwargs={'channels': [8, 8, 16, 32]}, seed=3,
        data_threads=1, progress=False, validate=False, save_frequency=0,
        callbacks=[lambda epoch, row: rows.append(row['train_loss'])])
    rank = res['rank']
    # trainable parameters only: BN running statistics are per worker (per device in the
    # original's multi-GPU runs too) and are not synchronised by the kvstore
    params = {k: v.data().asnumpy() for k, v in res['net'].collect_params().items()
              if v.grad_req != 'null'}
    np.savez(os.path.join(out, 'rank%d.npz' % rank), **params)
    with open(os.path.join(out, 'rank%d.json' % rank), 'w') as f:
        json.dump({'losses': rows, 'num_workers': res['num_workers'],
                   'batches': res['last'] and res['last'].get('samples_per_sec')}, f)


def test_dmlc_env_and_port():
    env = dmlc_env('server', 2, 3, 9091)
    assert env['DMLC_ROLE'] == 'server' and env['DMLC_NUM_WORKER'] == '2'
    assert env['DMLC_NUM_SERVER'] == '3' and env['DMLC_PS_ROOT_PORT'] == '9091'
    with pytest.raises(ValueError, match='role'):
        dmlc_env('boss', 1, 1, 1)
    assert 0 < free_port() < 65536


def test_launcher_kills_on_timeout(tmp_path):
    with pytest.raises(DistLaunchError, match='exceeded'):
        launch_local([sys.executable, '-c', 'import time; time.sleep(30)'], 1, 1, timeout=2,
                     log_dir=str(tmp_path))


@pytest.mark.parametrize('update_on_kvstore', [True, False], ids=['server_update',
                                                                  'worker_update'])
def test_two_workers_two_servers_stay_identical(tmp_path, update_on_kvstore):
    from gluon_aff.data.imagenet import write_tiny_recordio
    out = str(tmp_path)
    write_tiny_recordio(os.path.join(out, 'tiny'), num_images=32, classes=4, size=48, seed=0)
    env = {OUT_ENV: out, 'GLUON_AFF_DIST_UOK': str(int(update_on_kvstore))}
    if not update_on_kvstore:
        # known issue (docs/imagenet.md): worker-side updates race on MXNet's threaded engine
        env['MXNET_ENGINE_TYPE'] = 'NaiveEngine'
    _launch(out, [sys.executable, os.path.abspath(__file__)], env)
    a, b = np.load(os.path.join(out, 'rank0.npz')), np.load(os.path.join(out, 'rank1.npz'))
    assert sorted(a.files) == sorted(b.files) and a.files
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for rank in (0, 1):
        info = json.load(open(os.path.join(out, 'rank%d.json' % rank)))
        assert info['num_workers'] == 2
        losses = info['losses']
        assert len(losses) == 4 and losses[-1] < losses[0], losses
    assert os.path.isfile(os.path.join(out, 'run', 'last.json'))   # rank 0 checkpointed
    # lr column: the lr of the latest update, wherever it runs (servers or workers)
    assert [row['lr'] for row in _rows(os.path.join(out, 'run'))] == pytest.approx(EXPECTED_LR)


def _cosine(step, base=0.1, n=6 - 1):
    return base * (1 + math.cos(math.pi * step / n)) / 2


#: lr after epochs 0..3 of the runs here: 32 images / total batch 16 = 2 updates per epoch,
#: lr 0.1, 1 warm-up epoch (updates 1-2, linear from 0), then cosine over 3 epochs (gluoncv:
#: 6 iterations, T = update - 2, N = 5, capped at N). After epoch e, 2 (e + 1) updates are
#: done: T = 0, 2, 4, 5.
EXPECTED_LR = [0.1, _cosine(2), _cosine(4), 0.0]


def _rows(run_dir):
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        return [json.loads(line) for line in f if line.strip()]


def _launch(out, command, env=None):
    base = {'OMP_NUM_THREADS': '1', 'MXNET_CPU_WORKER_NTHREADS': '1',
            'PYTHONPATH': ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')}
    base.update(env or {})
    try:
        launch_local(command, num_workers=2, num_servers=2, timeout=TIME_LIMIT, env=base,
                     log_dir=os.path.join(out, 'logs'))
    except DistLaunchError as err:
        logs = ''
        for name in sorted(os.listdir(os.path.join(out, 'logs'))):
            logs += '\n--- %s\n%s' % (name, open(os.path.join(out, 'logs', name)).read()[-1500:])
        pytest.fail('%s%s' % (err, logs))


def test_two_workers_with_validation_script(tmp_path):
    """The command line with validation on: every rank but 0 returns as soon as its last
    step is queued and exits; before the fix its last gradient pushes were dropped at exit and
    rank 0 hung in its last validation. The model is big enough (about 0.1 s per backward) for
    that to happen every time without the fix."""
    from gluon_aff.data.imagenet import write_tiny_recordio
    out = str(tmp_path)
    write_tiny_recordio(os.path.join(out, 'train'), num_images=32, classes=4, size=72, seed=0)
    write_tiny_recordio(os.path.join(out, 'val'), num_images=20, classes=4, size=72, seed=1)
    run = os.path.join(out, 'run')
    _launch(out, [sys.executable, os.path.join(ROOT, 'scripts', 'train_imagenet.py'),
                  '--kvstore', 'dist_sync', '--model', 'cifar_aff_resnet_b1',
                  '--rec-train', os.path.join(out, 'train.rec'),
                  '--rec-train-idx', os.path.join(out, 'train.idx'),
                  '--rec-val', os.path.join(out, 'val.rec'),
                  '--rec-val-idx', os.path.join(out, 'val.idx'),
                  '--classes', '4', '--batch-size', '16', '--lr', str(0.1 * 512 / 16),
                  '--epochs', '4', '--warmup-epochs', '1', '--no-mixup',
                  '--label-smoothing', '0', '--input-size', '64', '--dtype', 'float32',
                  '-j', '1', '--seed', '3', '--save-frequency', '0', '--no-progress',
                  '--save-dir', run])
    rows = _rows(run)
    assert [row['epoch'] for row in rows] == [0, 1, 2, 3]
    for row in rows:
        assert 0 <= row['val_top1_err'] <= 1 and 0 <= row['val_top5_err'] <= row['val_top1_err']
    # the servers' lr (update_on_kvstore), not the idle worker optimizer's (0 = warm-up start)
    assert [row['lr'] for row in rows] == pytest.approx(EXPECTED_LR)
    with open(os.path.join(run, 'last.json')) as f:
        assert json.load(f)['epoch'] == 3
    with open(os.path.join(run, 'last.states')) as f:
        assert json.load(f) == {'num_update': 8, 'server_side': True}


if __name__ == '__main__':
    worker_main(os.environ[OUT_ENV], bool(int(os.environ.get('GLUON_AFF_DIST_UOK', '1'))))
