"""Parameter-server training on 127.0.0.1: 1 scheduler, 2 servers, 2 workers (dist_sync).

The test runs this file as the command of every role (see gluon_aff/training/distributed.py);
as a worker it trains the tiny model on its half of a generated RecordIO set and saves its final
parameters and losses.
"""
import json
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
    env = {OUT_ENV: out, 'GLUON_AFF_DIST_UOK': str(int(update_on_kvstore)),
           'OMP_NUM_THREADS': '1', 'MXNET_CPU_WORKER_NTHREADS': '1',
           'PYTHONPATH': ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')}
    try:
        launch_local([sys.executable, os.path.abspath(__file__)], num_workers=2, num_servers=2,
                     timeout=TIME_LIMIT, env=env, log_dir=os.path.join(out, 'logs'))
    except DistLaunchError as err:
        logs = ''
        for name in sorted(os.listdir(os.path.join(out, 'logs'))):
            logs += '\n--- %s\n%s' % (name, open(os.path.join(out, 'logs', name)).read()[-1500:])
        pytest.fail('%s%s' % (err, logs))
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


if __name__ == '__main__':
    worker_main(os.environ[OUT_ENV], bool(int(os.environ.get('GLUON_AFF_DIST_UOK', '1'))))
