"""Soak test of parameter-server training: repeat a small dist_sync job and check that the
workers' weights stay bit-identical, step by step.

Each run is 1 scheduler, 2 servers and 2 workers on 127.0.0.1 training ``cifar_aff_resnet_b1``
(widths 8-32) on a generated 4-class RecordIO set through :func:`train_imagenet`; every worker
records a SHA-1 of its trainable parameters after every ``trainer.step`` (lazy copies, converted
after training, so the checksums add no synchronisation), and the runs compare the two workers'
sequences. ``--busy N`` starts N busy-loop processes for the whole soak (CPU contention is what
exposed the drift fixed in ``DistTrainer``)::

    nice python benchmarks/dist_soak.py --runs 20 --busy 2 --update-on-kvstore 0
    nice python benchmarks/dist_soak.py --runs 20 --busy 2 --update-on-kvstore 1 --epochs 8

``--kvstore-only`` exercises the kvstore directly instead: every worker sends, for 100 keys, the
pull of the initial value and then the push-pull of a gradient, and counts the initial pulls that
came back holding the gradient sum. With ``--no-wait`` (what ``gluon.Trainer`` does) MXNet
1.9.1's ps-lite serves some pulls after the push-pulls; by default the script waits for the
pulls first (what ``DistTrainer`` does) and none may be wrong::

    nice python benchmarks/dist_soak.py --kvstore-only --runs 5 --no-wait

Exit status 0 when every run kept identical weights (or, ``--kvstore-only`` without
``--no-wait``, no pull was wrong); one JSON line per run and a summary line on stdout.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

KEYS = 100  # kvstore-only mode


def _trainer_worker(out, args):
    import mxnet as mx
    from mxnet import gluon
    from gluon_aff.training.imagenet_run import train_imagenet

    snapshots = []
    step = gluon.Trainer.step

    def recording_step(self, batch_size, ignore_stale_grad=False):
        step(self, batch_size, ignore_stale_grad)
        snapshots.append([p.data().copy() for p in self._params if p.grad_req != 'null'])

    gluon.Trainer.step = recording_step
    res = train_imagenet(
        'cifar_aff_resnet_b1', os.path.join(out, 'run'), 'final',
        rec_train=os.path.join(out, 'tiny.rec'), rec_train_idx=os.path.join(out, 'tiny.idx'),
        batch_size=16, lr=0.1 * 512 / 16, epochs=args['epochs'], warmup_epochs=1,
        mixup=False, label_smoothing=0.0, dtype='float32', kvstore='dist_sync',
        update_on_kvstore=args['update_on_kvstore'], input_size=32, classes=4,
        model_kwargs={'channels': [8, 8, 16, 32]}, seed=3, data_threads=1, progress=False,
        validate=False, save_frequency=0)
    names = [p.name for p in res['trainer']._params if p.grad_req != 'null']
    sums = []
    for arrays in snapshots:
        per_param = [hashlib.sha1(a.asnumpy().tobytes()).hexdigest()[:12] for a in arrays]
        sums.append(per_param)
    mx.nd.waitall()
    with open(os.path.join(out, 'checksums%d.json' % res['rank']), 'w') as f:
        json.dump({'names': names, 'steps': sums}, f)


def _kvstore_worker(out, args):
    import mxnet as mx
    kv = mx.kv.create('dist_sync')
    shape = (64,)
    for key in range(KEYS):
        kv.init(key, mx.nd.full(shape, 1000.0 + key))
    kv._barrier()
    weights = [mx.nd.zeros(shape) for _ in range(KEYS)]
    grads = [mx.nd.full(shape, float(kv.rank + 1)) for _ in range(KEYS)]
    for key in range(KEYS):
        kv.pull(key, out=weights[key])
    if args['wait']:
        for array in weights:
            array.wait_to_read()
    for key in range(KEYS):
        kv.pushpull(key, grads[key])
    mx.nd.waitall()
    wrong = [k for k in range(KEYS) if not np.all(weights[k].asnumpy() == 1000.0 + k)]
    summed = [k for k in wrong if np.all(weights[k].asnumpy() == 3.0)]
    with open(os.path.join(out, 'kv%d.json' % kv.rank), 'w') as f:
        json.dump({'wrong_initial_pulls': wrong, 'holding_gradient_sum': summed}, f)


def _compare_checksums(out):
    a, b = [json.load(open(os.path.join(out, 'checksums%d.json' % r))) for r in (0, 1)]
    if len(a['steps']) != len(b['steps']):
        return {'identical': False, 'reason': 'step counts %d / %d'
                % (len(a['steps']), len(b['steps']))}
    for step, (x, y) in enumerate(zip(a['steps'], b['steps'])):
        differ = [name for name, u, v in zip(a['names'], x, y) if u != v]
        if differ:
            return {'identical': False, 'first_step': step + 1, 'parameters': differ}
    return {'identical': True, 'steps': len(a['steps'])}


def _run_once(args, out):
    from gluon_aff.training.distributed import DistLaunchError, launch_local
    env = {'OMP_NUM_THREADS': '1', 'MXNET_CPU_WORKER_NTHREADS': '1',
           'GLUON_AFF_SOAK_ARGS': json.dumps(args), 'GLUON_AFF_SOAK_OUT': out,
           'PYTHONPATH': ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')}
    tic = time.time()
    try:
        launch_local([sys.executable, os.path.abspath(__file__)], 2, args['servers'],
                     timeout=args['timeout'], env=env, log_dir=os.path.join(out, 'logs'))
    except DistLaunchError as err:
        return {'ok': False, 'error': str(err), 'seconds': round(time.time() - tic, 1)}
    if args['kvstore_only']:
        ranks = [json.load(open(os.path.join(out, 'kv%d.json' % r))) for r in (0, 1)]
        wrong = sum(len(r['wrong_initial_pulls']) for r in ranks)
        row = {'ok': wrong == 0, 'wrong_initial_pulls': [len(r['wrong_initial_pulls'])
                                                          for r in ranks],
               'holding_gradient_sum': [len(r['holding_gradient_sum']) for r in ranks]}
    else:
        row = _compare_checksums(out)
        row['ok'] = row['identical']
    row['seconds'] = round(time.time() - tic, 1)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--runs', type=int, default=20)
    p.add_argument('--busy', type=int, default=2, help='busy-loop processes during the soak')
    p.add_argument('--update-on-kvstore', type=int, choices=[0, 1], default=0)
    p.add_argument('--epochs', type=int, default=4, help='2 steps per epoch')
    p.add_argument('--servers', type=int, default=2)
    p.add_argument('--kvstore-only', action='store_true')
    p.add_argument('--no-wait', dest='wait', action='store_false',
                   help='--kvstore-only: push right after the initial pulls (gluon.Trainer)')
    p.add_argument('--timeout', type=float, default=180, help='per run, seconds')
    p.add_argument('--keep', help='keep every run folder under this directory')
    a = p.parse_args(argv)
    args = {'update_on_kvstore': bool(a.update_on_kvstore), 'epochs': a.epochs,
            'servers': a.servers, 'kvstore_only': a.kvstore_only, 'wait': a.wait,
            'timeout': a.timeout}
    from gluon_aff.data.imagenet import write_tiny_recordio
    busy = [subprocess.Popen([sys.executable, '-c', 'while True: pass'],
                             start_new_session=True) for _ in range(a.busy)]
    failures = 0
    try:
        for run in range(a.runs):
            out = tempfile.mkdtemp(prefix='soak-%03d-' % run, dir=a.keep)
            if not a.kvstore_only:
                write_tiny_recordio(os.path.join(out, 'tiny'), num_images=32, classes=4,
                                    size=48, seed=0)
            row = dict(run=run, **_run_once(args, out))
            failures += not row['ok']
            print(json.dumps(row), flush=True)
            if not a.keep:
                shutil.rmtree(out, ignore_errors=True)
    finally:
        for proc in busy:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    print(json.dumps({'runs': a.runs, 'failed': failures, 'busy': a.busy,
                      'mode': 'kvstore' if a.kvstore_only else 'trainer', **args}))
    return 1 if failures and (a.wait or not a.kvstore_only) else 0


if __name__ == '__main__':
    if os.environ.get('DMLC_ROLE') == 'worker':
        worker_args = json.loads(os.environ['GLUON_AFF_SOAK_ARGS'])
        worker = _kvstore_worker if worker_args['kvstore_only'] else _trainer_worker
        worker(os.environ['GLUON_AFF_SOAK_OUT'], worker_args)
    else:
        sys.exit(main())
