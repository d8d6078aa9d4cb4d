#!/usr/bin/env python
"""One command for a GPU machine: does gluon-aff train there, and how fast is AFF against add?

After ``GLUON_AFF_STACK=gpu bash bootstrap.sh setup`` (mxnet-cu112)::

    .venv/bin/python benchmarks/gpu_check.py [--gpus 0,1] [--out gpu_check.json]

1. environment: MXNet version and build features, the GPUs (``nvidia-smi``);
2. a float16 training step of ``aff_resnet50`` (float16 weights, ``multi_precision``) and an AMP
   step (``mxnet.contrib.amp``, dynamic loss scaling; in a child process, AMP patches MXNet for
   the whole process): three steps on a fixed batch, the losses must be finite;
3. with two GPUs or more, a 2-worker ``dist_sync`` parameter-server step (one GPU per worker,
   ``gluon_aff.training.distributed.launch_local``): both workers must end with equal weights;
4. img/s of ``aff_resnet50``, ``iaff_resnet50`` and ``add_resnet50`` at batch 64 and 128, float32
   and float16, training step and inference, models interleaved, with the ratios to
   ``add_resnet50`` (the goal: AFF >= 0.90x in float16 training).

Everything goes to a JSON file and a Markdown table (stdout). Expected to take about 5 minutes
on one H100 (not yet run on a GPU); ``--budget`` (540 s) skips the throughput groups that would
start later, so the whole check stays under 10 minutes.
``--dry-run`` runs the same code on the CPU in seconds (tiny ResNet-50s at 32x32, batch 2,
float32 in place of float16 since MXNet has no float16 GEMM on CPU, bfloat16 AMP, the 2-worker
step on the CPU); the test suite runs it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from timing import interleaved, per_second  # noqa: E402

MODELS = ('add_resnet50', 'aff_resnet50', 'iaff_resnet50')
AMP_CHILD, DIST_WORKER = '--amp-child', '--dist-worker'


def _setup(args):
    """Contexts, model kwargs, input size, batches, dtypes and AMP dtype of this run."""
    import mxnet as mx
    if args.dry_run:
        return dict(ctx=[mx.cpu()], kwargs=dict(layers=[1, 1, 1, 1], classes=10), size=32,
                    batches=(2,), dtypes={'float32': 'float32', 'float16': 'float32'},
                    amp='bfloat16', rounds=1, iters=1)
    gpus = [int(i) for i in args.gpus.split(',')] if args.gpus else \
        list(range(mx.context.num_gpus()))
    if not gpus:
        raise SystemExit('gpu_check: no GPU visible to MXNet (mxnet-cu112 installed? '
                         'CUDA_VISIBLE_DEVICES?); --dry-run runs on the CPU')
    return dict(ctx=[mx.gpu(i) for i in gpus], kwargs={}, size=224,
                batches=tuple(int(b) for b in args.batches.split(',')),
                dtypes={'float32': 'float32', 'float16': 'float16'}, amp='float16',
                rounds=args.rounds, iters=args.iters)


def environment():
    import mxnet as mx
    feats = mx.runtime.Features()
    env = {'mxnet': mx.__version__, 'cuda': feats.is_enabled('CUDA'),
           'cudnn': feats.is_enabled('CUDNN'), 'nccl': feats.is_enabled('NCCL'),
           'num_gpus': mx.context.num_gpus()}
    try:
        env['gpus'] = subprocess.run(
            ['nvidia-smi', '--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'],
            capture_output=True, text=True, check=True).stdout.strip().splitlines()
    except (OSError, subprocess.CalledProcessError):
        env['gpus'] = []
    return env


def _net(name, ctx, dtype, kwargs):
    import mxnet as mx
    import gluon_aff
    net = gluon_aff.get_model(name, **kwargs)
    net.initialize(mx.init.Xavier(), ctx=ctx)
    if dtype != 'float32':
        net.cast(dtype)
    net.hybridize(static_alloc=True)
    return net


def make_steps(net, ctx, dtype, batch, size, amp=None):
    """``{'train': step, 'infer': step}`` of ``net`` (on ``ctx``, in ``dtype``) at ``batch``."""
    import mxnet as mx
    from mxnet import autograd, gluon
    x = mx.nd.random.uniform(-1, 1, shape=(batch, 3, size, size), ctx=ctx, dtype=dtype)
    y = mx.nd.array([i % 10 for i in range(batch)], ctx=ctx, dtype=dtype)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {
        'learning_rate': 0.01, 'momentum': 0.9, 'multi_precision': dtype != 'float32'})
    if amp is not None:
        amp.init_trainer(trainer)
    losses = []

    def train():
        with autograd.record():
            loss = loss_fn(net(x), y)
            if amp is not None:
                with amp.scale_loss(loss, trainer) as scaled:
                    autograd.backward(scaled)
        if amp is None:
            loss.backward()
        trainer.step(batch)
        losses.append(float(loss.mean().asscalar()))

    def infer():
        net(x).wait_to_read()
    return {'train': train, 'infer': infer, 'losses': losses}


def check_training(name, setup, dtype, amp=None):
    """Three steps on a fixed batch: ``{'losses': [...], 'ok': all finite}``."""
    import math
    ctx = setup['ctx'][0]
    steps = make_steps(_net(name, ctx, dtype, setup['kwargs']), ctx, dtype, setup['batches'][0],
                       setup['size'], amp)
    for _ in range(3):
        steps['train']()
    losses = steps['losses']
    return {'dtype': dtype, 'amp': bool(amp), 'losses': losses,
            'ok': all(math.isfinite(v) for v in losses)}


def _child(flag, args):
    """Run the AMP check or one dist_sync worker in this (child) process; print JSON."""
    setup = _setup(args)
    if flag == AMP_CHILD:
        from gluon_aff.training.imagenet import enable_amp
        amp = enable_amp(setup['amp'])
        print(json.dumps(check_training('aff_resnet50', setup, 'float32', amp)))
        return
    import mxnet as mx
    from mxnet import autograd, gluon
    kv = mx.kv.create('dist_sync')
    ctx = setup['ctx'][kv.rank % len(setup['ctx'])]
    mx.random.seed(0)
    net = _net('aff_resnet50', ctx, 'float32', setup['kwargs'])
    batch = setup['batches'][0]
    x = mx.nd.random.uniform(-1, 1, shape=(batch, 3, setup['size'], setup['size']), ctx=ctx)
    y = mx.nd.array([(i + kv.rank) % 10 for i in range(batch)], ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.01}, kvstore=kv)
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(x), y)
    loss.backward()
    trainer.step(batch * kv.num_workers)
    checksum = sum(float(p.data(ctx).astype('float64').sum().asscalar())
                   for p in net.collect_params().values() if p.grad_req != 'null')
    with open(os.path.join(args.dist_dir, 'worker-%d.json' % kv.rank), 'w') as f:
        json.dump({'rank': kv.rank, 'checksum': checksum, 'loss': float(loss.mean().asscalar())},
                  f)


def _self_command(args, flag):
    cmd = [sys.executable, os.path.abspath(__file__), flag, '--gpus', args.gpus or '']
    return cmd + (['--dry-run'] if args.dry_run else [])


def check_amp(args):
    out = subprocess.run(_self_command(args, AMP_CHILD), capture_output=True, text=True)
    if out.returncode:
        return {'ok': False, 'error': (out.stderr.strip().splitlines() or ['?'])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_dist(args, setup):
    """The 2-worker dist_sync step (skipped with fewer than two GPUs, except in a dry run)."""
    from gluon_aff.training.distributed import DistLaunchError, launch_local
    if not args.dry_run and len(setup['ctx']) < 2:
        return {'ok': None, 'skipped': 'fewer than 2 GPUs'}
    with tempfile.TemporaryDirectory() as tmp:
        args.dist_dir = tmp
        cmd = _self_command(args, DIST_WORKER) + ['--dist-dir', tmp]
        try:
            launch_local(cmd, num_workers=2, num_servers=1, timeout=300,
                         log_dir=os.path.join(tmp, 'logs'))
        except DistLaunchError as err:
            return {'ok': False, 'error': str(err)}
        workers = [json.load(open(os.path.join(tmp, 'worker-%d.json' % r))) for r in (0, 1)]
    same = abs(workers[0]['checksum'] - workers[1]['checksum']) <= 1e-6 * abs(
        workers[0]['checksum'])
    return {'ok': same, 'workers': workers}


def throughput(setup, deadline):
    """Rows ``{dtype, batch, phase, model, img_s, ratio}``, models interleaved per group; the
    groups not started by ``deadline`` (a ``time.time()``) are listed as skipped."""
    import time
    rows, skipped, ctx = [], [], setup['ctx'][0]
    for label, dtype in setup['dtypes'].items():
        nets = {m: _net(m, ctx, dtype, setup['kwargs']) for m in MODELS}
        for batch in setup['batches']:
            steps = {m: make_steps(nets[m], ctx, dtype, batch, setup['size']) for m in MODELS}
            for phase in ('train', 'infer'):
                if time.time() > deadline:
                    skipped.append('%s batch %d %s' % (label, batch, phase))
                    continue
                times = interleaved({m: steps[m][phase] for m in MODELS}, setup['rounds'],
                                    setup['iters'])
                base = per_second(times, MODELS[0], batch)
                for m in MODELS:
                    speed = per_second(times, m, batch)
                    rows.append({'dtype': label, 'batch': batch, 'phase': phase, 'model': m,
                                 'img_s': speed, 'ratio': speed / base})
        del nets
    return rows, skipped


def table(report):
    lines = ['| dtype | batch | phase | ' + ' | '.join(MODELS) + ' | aff / add | iaff / add |',
             '|---|---:|---|' + '---:|' * (len(MODELS) + 2)]
    groups = {}
    for row in report['throughput']:
        groups.setdefault((row['dtype'], row['batch'], row['phase']), {})[row['model']] = row
    for (dtype, batch, phase), rows in groups.items():
        lines.append('| %s | %d | %s | %s | %.3f | %.3f |' % (
            dtype, batch, phase, ' | '.join('%.1f' % rows[m]['img_s'] for m in MODELS),
            rows['aff_resnet50']['ratio'], rows['iaff_resnet50']['ratio']))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--gpus', default='', help='GPU ids (default: every visible GPU)')
    parser.add_argument('--batches', default='64,128')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--out', default='gpu_check.json')
    parser.add_argument('--budget', type=float, default=540,
                        help='seconds; throughput groups not started by then are skipped')
    parser.add_argument('--dry-run', action='store_true', help='the same on the CPU, tiny')
    parser.add_argument(AMP_CHILD, action='store_true', help=argparse.SUPPRESS)
    parser.add_argument(DIST_WORKER, action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--dist-dir', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.amp_child or args.dist_worker:
        return _child(AMP_CHILD if args.amp_child else DIST_WORKER, args)
    import time
    deadline = time.time() + args.budget
    setup = _setup(args)
    report = {'dry_run': args.dry_run, 'environment': environment()}
    report['fp16_step'] = check_training('aff_resnet50', setup, setup['dtypes']['float16'])
    report['amp_step'] = check_amp(args)
    report['dist_sync'] = check_dist(args, setup)
    report['throughput'], report['skipped'] = throughput(setup, deadline)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=1)
    print('environment: %s' % json.dumps(report['environment']))
    for check in ('fp16_step', 'amp_step', 'dist_sync'):
        print('%-10s %s' % (check, json.dumps(report[check])))
    print('\n'.join(table(report)))
    if report['skipped']:
        print('skipped (--budget %.0f s reached): %s' % (args.budget, ', '.join(report['skipped'])))
    print('written: %s' % args.out)
    ok = all(report[c]['ok'] is not False for c in ('fp16_step', 'amp_step', 'dist_sync'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
