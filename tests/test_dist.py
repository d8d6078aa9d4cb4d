"""Parameter-server training on 127.0.0.1: 1 scheduler, 2 servers, 2 workers (dist_sync).

The tests run this file as the workers' command (see gluon_aff/training/distributed.py): it
trains the tiny model on its half of a generated RecordIO set and saves its final parameters
and losses, or (``GLUON_AFF_DIST_TEST_MODE=init_race``) makes one trainer step while the servers
are paused around the last initial pull. Faults: tests/test_dist_faults.py.
"""
import json
import math
import os
import socket
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import mxnet as mx  # noqa: E402,F401  (scheduler / server processes stop here and serve)

from gluon_aff.training.distributed import (DistLaunchError, dmlc_env, free_port,  # noqa: E402
                                            launch_local)

OUT_ENV = 'GLUON_AFF_DIST_TEST_OUT'
MODE_ENV = 'GLUON_AFF_DIST_TEST_MODE'
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
    port = free_port()
    with socket.socket() as sock:   # free: a server can listen on it
        sock.bind(('127.0.0.1', port))


def test_launch_dist_checks_the_scheduler_address(capsys):
    from gluon_aff.training.distributed import main
    with pytest.raises(SystemExit) as err:
        main(['--scheduler', 'nohost', '--', sys.executable, '-c', 'pass'])
    assert err.value.code == 2 and '--scheduler must be HOST:PORT' in capsys.readouterr().err


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


def _launch(out, command, env=None, num_servers=2):
    base = {'OMP_NUM_THREADS': '1', 'MXNET_CPU_WORKER_NTHREADS': '1',
            'PYTHONPATH': ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')}
    base.update(env or {})
    try:
        launch_local(command, num_workers=2, num_servers=num_servers, timeout=TIME_LIMIT, env=base,
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


def _server_pids(port):
    """Pids of this job's parameter servers (their environment names the scheduler port)."""
    pids = []
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/environ' % entry, 'rb') as f:
                env = dict(item.split(b'=', 1) for item in f.read().split(b'\0') if b'=' in item)
        except (OSError, ValueError):
            continue
        if env.get(b'DMLC_ROLE') == b'server' and env.get(b'DMLC_PS_ROOT_PORT') == port.encode():
            pids.append(int(entry))
    return pids


def init_race_main(out):
    """One trainer step with lr 0; the servers are paused while the last initial pull is out.

    Rank 0 stops the servers (SIGSTOP) after the last parameter's kvstore init and resumes
    them 1 s later (writing ``resumed`` first). The trainer must not push a gradient before its
    initial pull has completed: ps-lite may serve the two out of order (docs/imagenet.md), so
    every worker records whether the servers had resumed when its first push-pull was sent.
    With lr 0 every weight must equal its initial value after the step, and the pulled
    gradients must be the sum of both workers' gradients.
    """
    import signal
    import threading
    from mxnet import autograd, gluon
    from gluon_aff.training.imagenet import create_kvstore, make_trainer

    kv, rank, num_workers = create_kvstore('dist_sync')
    mx.random.seed(7)  # the same initial weights on both workers
    net = gluon.nn.HybridSequential()
    for units in (6, 5, 4, 3):
        net.add(gluon.nn.Dense(units, activation='tanh'))
    net.initialize(mx.init.Xavier())
    params = list(net.collect_params().values())
    data = [mx.nd.array(np.random.RandomState(r).uniform(-1, 1, (4, 5))) for r in range(2)]

    def local_grads(x):
        with autograd.record():
            loss = (net(x) ** 2).sum()
        loss.backward()
        return [p.grad().asnumpy().copy() for p in params]

    expected_grad = [g0 + g1 for g0, g1 in zip(local_grads(data[0]), local_grads(data[1]))]
    initial = [p.data().asnumpy().copy() for p in params]
    local_grads(data[rank])
    trainer = make_trainer(net, None, 'sgd', momentum=0.0, wd=0.0, kvstore=kv,
                           num_workers=num_workers, update_on_kvstore=False)
    trainer._optimizer.set_learning_rate(0.0)

    resumed = os.path.join(out, 'resumed')
    last_key = len(params) - 1
    kv_class = type(kv)
    broadcast, pushpull = kv_class.broadcast, kv_class.pushpull
    first_push = []

    def resume(pids):
        open(resumed, 'w').close()
        for pid in pids:
            os.kill(pid, signal.SIGCONT)

    def paused_broadcast(self, key, value, out, priority=0):
        if key != last_key:
            return broadcast(self, key, value, out, priority)
        self.init(key, value)  # broadcast = init + pull; the servers are stopped in between
        if rank == 0:
            pids = _server_pids(os.environ['DMLC_PS_ROOT_PORT'])
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            threading.Timer(1.0, resume, (pids,)).start()
        self._barrier()
        self.pull(key, out=out, priority=priority)

    def recording_pushpull(self, *args, **kwargs):
        if not first_push:
            first_push.append(os.path.exists(resumed))
        return pushpull(self, *args, **kwargs)

    kv_class.broadcast, kv_class.pushpull = paused_broadcast, recording_pushpull
    trainer.step(1)
    pulled = [p.grad().asnumpy() for p in params]
    final = [p.data().asnumpy() for p in params]
    np.savez(os.path.join(out, 'init%d.npz' % rank), pushed_after_resume=first_push[0],
             **{'initial%d' % i: a for i, a in enumerate(initial)},
             **{'final%d' % i: a for i, a in enumerate(final)},
             **{'pulled%d' % i: a for i, a in enumerate(pulled)},
             **{'expected%d' % i: a for i, a in enumerate(expected_grad)})


def test_initial_pull_completes_before_first_push(tmp_path):
    """Worker-side updates: the initial weights reach every worker before the first push.

    Regression test of the drift between workers (docs/imagenet.md): without
    :class:`~gluon_aff.training.imagenet.DistTrainer`'s wait, each worker sends its first
    push-pull while its last initial pull is still unanswered (here: while the servers are
    stopped), and ps-lite may answer that pull with the gradient sum."""
    out = str(tmp_path)
    _launch(out, [sys.executable, os.path.abspath(__file__)],
            {OUT_ENV: out, MODE_ENV: 'init_race'}, num_servers=1)
    for rank in (0, 1):
        res = np.load(os.path.join(out, 'init%d.npz' % rank))
        assert bool(res['pushed_after_resume']), 'rank %d pushed before its pull completed' % rank
        count = len([k for k in res.files if k.startswith('initial')])
        assert count == 8  # 4 Dense layers: weight and bias
        for i in range(count):
            np.testing.assert_array_equal(res['final%d' % i], res['initial%d' % i],
                                          err_msg='rank %d parameter %d' % (rank, i))
            np.testing.assert_allclose(res['pulled%d' % i], res['expected%d' % i], rtol=1e-6,
                                       atol=1e-7, err_msg='rank %d gradient %d' % (rank, i))


if __name__ == '__main__':
    if os.environ.get(MODE_ENV) == 'init_race':
        init_race_main(os.environ[OUT_ENV])
    else:
        worker_main(os.environ[OUT_ENV], bool(int(os.environ.get('GLUON_AFF_DIST_UOK', '1'))))
