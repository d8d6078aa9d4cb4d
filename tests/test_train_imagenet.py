"""ImageNet recipes (lr values of the original's training log), targets, 1-epoch runs, resume,
evaluation, float16 cast."""
import json
import math
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_aff.data.imagenet import NUM_TRAINING_SAMPLES, write_tiny_recordio
from gluon_aff.training import read_metrics
from gluon_aff.training.imagenet import iters_per_epoch, make_trainer
from gluon_aff.training.recipe import SoftTargets, apply_no_wd, get_recipe
from gluon_aff.training.schedule import build_lr_schedule
from gluon_aff.training.imagenet_run import evaluate_imagenet, parse_gpus, train_imagenet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(model='cifar_aff_resnet_b1', classes=4, model_kwargs={'channels': [8, 8, 16, 32]})


def test_recipes_match_the_original_logs():
    # Namespace(...) headers of open-aff's ImageNet logs (final: aff_resnet50.log; paper:
    # resnext50_32x4d_aff_best.log), typed by hand
    for name, epochs, off in (('final', 240, 5), ('paper', 160, 0)):
        r = get_recipe(name, 'imagenet')
        assert (r.epochs, r.mixup_off_epochs) == (epochs, off)
        assert (r.lr, r.momentum, r.wd, r.warmup_epochs) == (0.075, 0.9, 1e-4, 5)
        assert (r.optimizer, r.lr_mode, r.dtype) == ('nag', 'cosine', 'float16')
        assert r.mixup and r.mixup_alpha == 0.2 and r.label_smoothing == 0.1
        assert r.no_wd and r.lr_ref_batch == r.batch_size == 128 * 4 and r.log_interval == 50
    with pytest.raises(ValueError, match='unknown imagenet recipe'):
        get_recipe('fast', 'imagenet')
    with pytest.raises(ValueError, match='unknown recipe field'):
        get_recipe('final', 'imagenet', learning_rate=1)


def test_lr_schedule_reproduces_the_original_log():
    # 4 GPUs x 128 = 512; 1281167 // 512 = 2502 iterations per epoch (the original's num_batches)
    iters = iters_per_epoch(NUM_TRAINING_SAMPLES, 512)
    assert iters == 2502
    sched = get_recipe('final', 'imagenet').lr_schedule(iters, 512)
    # lr printed by aff_resnet50.log after update 50 (epoch 0 batch 49), 2503 + 50 (epoch 1
    # batch 49; epoch 0 had 2503 padded batches) and 2503 + 2502 + 50 (epoch 2 batch 49)
    for update, logged in ((50, 0.000300), (2553, 0.015307), (5055, 0.030308),
                           (2502 * 5 - 1, 0.075)):
        assert round(sched(update), 6) == logged
    # cosine by hand: lr = 0.075 * (1 + cos(pi * t / (N - 1))) / 2 over N = 235 * 2502 updates
    n = 235 * 2502
    for t in (0, n // 3, n // 2, n - 1):
        expected = 0.075 * (1 + math.cos(math.pi * t / (n - 1))) / 2
        assert sched(5 * 2502 + t) == pytest.approx(expected, abs=1e-9)


def test_batch_and_lr_scaling_rule():
    final = get_recipe('final', 'imagenet')
    assert final.total_batch(4) == 512 and final.scaled_lr(512) == pytest.approx(0.075)
    assert final.scaled_lr(256) == pytest.approx(0.0375)
    assert get_recipe('final', 'imagenet', batch_size=1024).total_batch(4, num_workers=2) == 1024
    # the original: batch per device, lr as given whatever the device count; without a batch
    # the preset's per-device 128 (512 over its 4 GPUs)
    original = get_recipe('final', 'imagenet', per_device_batch=True)
    assert original.batch_size == 128 and original.total_batch(2) == 256
    assert original.scaled_lr(256) == 0.075
    # the paper-version ResNet-50 run of Table 5: 2 GPUs x 120, lr 0.075 for that batch
    paper = get_recipe('paper-aff-resnet50', 'imagenet')
    assert paper.total_batch(2) == 240 and paper.scaled_lr(240) == pytest.approx(0.075)
    with pytest.raises(ValueError, match='not divisible'):
        get_recipe('final', 'imagenet', batch_size=510).total_batch(4)


def test_targets_match_numpy_mixup_and_smoothing():
    labels = [mx.nd.array([0, 2, 1, 3])]
    data = [mx.nd.array(np.arange(4 * 3, dtype=np.float32).reshape(4, 3))]
    tf = SoftTargets(4, mixup=True, alpha=0.2, off_epoch=8, smoothing=0.1, dtype='float32')
    np.random.seed(5)
    lam = np.random.beta(0.2, 0.2)
    np.random.seed(5)
    x, y = tf(data, labels, epoch=0)
    onehot = np.full((4, 4), 0.1 / 4)
    onehot[np.arange(4), [0, 2, 1, 3]] = 0.9 + 0.1 / 4
    np.testing.assert_allclose(y[0].asnumpy(), lam * onehot + (1 - lam) * onehot[::-1],
                               rtol=1e-6)
    xd = data[0].asnumpy()
    np.testing.assert_allclose(x[0].asnumpy(), lam * xd + (1 - lam) * xd[::-1], rtol=1e-5)
    x, y = tf(data, labels, epoch=8)              # last 2 epochs: no mixup
    np.testing.assert_allclose(y[0].asnumpy(), onehot, rtol=1e-6)
    hard = SoftTargets(4, mixup=False, smoothing=0.0, dtype='float16')
    assert hard.sparse_label
    x, y = hard(data, labels, 0)
    assert x[0].dtype == np.float16 and list(y[0].asnumpy()) == [0, 2, 1, 3]


def test_no_wd_on_bias_and_bn():
    from gluon_aff import get_model
    net = get_model(TINY['model'], classes=4, channels=[8, 8, 16, 32])
    net.initialize()
    changed = apply_no_wd(net)
    for name, p in net.collect_params().items():
        tail = name.rsplit('_', 1)[-1]
        assert p.wd_mult == (0.0 if tail in ('gamma', 'beta', 'bias') else 1.0), name
    assert changed and all(n.rsplit('_', 1)[-1] in ('gamma', 'beta', 'bias') for n in changed)


def test_bad_inputs_have_clear_errors(tmp_path):
    with pytest.raises(ValueError, match='GPU'):
        parse_gpus('0,%d' % (mx.context.num_gpus() + 3))
    with pytest.raises(ValueError, match='comma-separated'):
        parse_gpus('a,b')
    with pytest.raises(ValueError, match='RecordIO'):
        train_imagenet(TINY['model'], str(tmp_path))
    with pytest.raises(ValueError, match='DMLC_ROLE'):
        train_imagenet(TINY['model'], str(tmp_path), kvstore='dist_sync',
                       rec_train='x.rec', rec_train_idx='x.idx')
    with pytest.raises(FileNotFoundError, match='missing.rec'):
        train_imagenet(TINY['model'], str(tmp_path), rec_train=str(tmp_path / 'missing.rec'),
                       rec_train_idx=str(tmp_path / 'missing.idx'))


@pytest.fixture(scope='module')
def tiny_rec(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp('imnet') / 'tiny')
    rec, idx, _ = write_tiny_recordio(prefix, num_images=32, classes=4, size=64, seed=0)
    return rec, idx


def _run(save_dir, rec, idx, epochs, resume=False, **kw):
    args = dict(TINY, recipe='final', rec_train=rec, rec_train_idx=idx, rec_val=rec,
                rec_val_idx=idx, batch_size=8, per_device_batch=True, lr=0.1, epochs=epochs,
                warmup_epochs=1, input_size=32, dtype='float32', seed=7, data_threads=1,
                progress=False, resume=resume, save_frequency=1)
    args.update(kw)
    return train_imagenet(save_dir=save_dir, **args)


def test_script_trains_one_epoch_and_eval_prints_errors(tmp_path, tiny_rec):
    rec, idx = tiny_rec
    run = str(tmp_path / 'run')
    cmd = [sys.executable, os.path.join(ROOT, 'scripts', 'train_imagenet.py'),
           '--model', TINY['model'], '--classes', '4',
           '--model-kwargs', json.dumps(TINY['model_kwargs']), '--save-dir', run,
           '--rec-train', rec, '--rec-train-idx', idx, '--rec-val', rec, '--rec-val-idx', idx,
           '--batch-size', '16', '--lr', '0.2', '--epochs', '2', '--warmup-epochs', '1',
           '--input-size', '32', '--dtype', 'float32', '-j', '1', '--no-progress',
           '--save-frequency', '1']
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = read_metrics(run)
    assert [r['epoch'] for r in rows] == [0, 1]
    # lr 0.2 given for batch 512, total batch 16 -> 0.00625 at the end of the 1-epoch warm-up
    assert rows[0]['lr'] == pytest.approx(0.2 * 16 / 512)
    for name in ('last', 'best', 'epoch-0001'):
        assert os.path.isfile(os.path.join(run, name + '.json')), name
    assert os.path.isfile(os.path.join(run, 'curves.png'))
    info = json.load(open(os.path.join(run, 'last.json')))['info']
    assert info['iters_per_epoch'] == 2 and info['total_batch'] == 16
    cmd = [sys.executable, os.path.join(ROOT, 'scripts', 'eval_imagenet.py'),
           '--model', TINY['model'], '--classes', '4',
           '--model-kwargs', json.dumps(TINY['model_kwargs']), '--run', run,
           '--rec-val', rec, '--rec-val-idx', idx, '--input-size', '32', '--batch-size', '10',
           '-j', '1']
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'top-1 error' in out.stdout and 'top-5 error' in out.stdout
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res['num_samples'] == 32 and res['top5_err'] == 0.0  # 4 classes: top-5 always right


class _Crash(Exception):
    pass


def _crash_after(epoch_to_crash):
    def callback(epoch, row):
        if epoch == epoch_to_crash:
            raise _Crash()
    return callback


def test_resume_equals_uninterrupted_and_loss_falls(tmp_path, tiny_rec):
    rec, idx = tiny_rec
    kw = dict(mixup=True, mixup_off_epochs=1, label_smoothing=0.1)
    full = _run(str(tmp_path / 'full'), rec, idx, epochs=3, log_interval=2, **kw)
    # --log-interval 2: the original's "Epoch[e] Batch [b]" line after batches 1 and 3 of the
    # 4 per epoch, read by the reader of the original's logs, with the lr of that update
    from gluon_aff.reproduce.openaff_logs import parse_log
    lines = open(os.path.join(str(tmp_path / 'full'), 'train.log')).read().splitlines()
    batches = parse_log(['Namespace(lr=0)'] + lines).segments[0].batches
    assert [(b['epoch'], b['batch']) for b in batches] == [(e, b) for e in range(3)
                                                           for b in (1, 3)]
    sched = full['trainer']._optimizer.lr_scheduler
    for b in batches:
        assert b['lr'] == pytest.approx(sched(b['epoch'] * 4 + b['batch'] + 1), abs=5e-7)
        assert b['metric'] == 'accuracy'
    part = str(tmp_path / 'part')
    with pytest.raises(_Crash):                   # the run dies after epoch 0 was saved
        _run(part, rec, idx, epochs=3, callbacks=[_crash_after(0)], **kw)
    resumed = _run(part, rec, idx, epochs=3, resume=True, **kw)
    a = full['net'].collect_params()
    b = resumed['net'].collect_params()
    for (ka, pa), (kb, pb) in zip(sorted(a.items()), sorted(b.items())):
        np.testing.assert_array_equal(pa.data().asnumpy(), pb.data().asnumpy(), err_msg=ka)
    rows = read_metrics(part)
    full_rows = read_metrics(str(tmp_path / 'full'))
    assert [r['epoch'] for r in rows] == [0, 1, 2]
    assert [r['train_loss'] for r in rows] == [r['train_loss'] for r in full_rows]
    assert full_rows[-1]['train_loss'] < full_rows[0]['train_loss']
    # evaluation of the checkpoint agrees with the run's own validation of the last epoch
    res = evaluate_imagenet(TINY['model'], os.path.join(str(tmp_path / 'full'), 'last'), rec,
                            idx, batch_size=8, input_size=32, classes=4,
                            model_kwargs=TINY['model_kwargs'], data_threads=1)
    assert res['top1_err'] == pytest.approx(full_rows[-1]['val_top1_err'])


def test_float16_cast_step_on_cpu(tmp_path, tiny_rec):
    rec, idx = tiny_rec
    try:
        result = _run(str(tmp_path / 'fp16'), rec, idx, epochs=1, warmup_epochs=0, dtype='float16',
                      batch_size=16, validate=False)
    except mx.base.MXNetError as err:
        try:
            mx.nd.waitall()                       # consume the engine's pending copy of it
        except mx.base.MXNetError:
            pass
        reason = [l for l in str(err).splitlines() if l.strip()][-1]
        pytest.skip('MXNet CPU build cannot run a float16 step (%s); the GPU check runs on '
                    'the device machine' % reason.strip())
    params = result['net'].collect_params()
    assert all(p.dtype == np.float16 for p in params.values())
    # multi_precision keeps a float32 master copy inside the trainer
    assert result['trainer']._optimizer.multi_precision
    assert np.isfinite(read_metrics(str(tmp_path / 'fp16'))[0]['train_loss'])


def test_make_trainer_rescales_for_workers():
    from gluon_aff import get_model
    net = get_model(TINY['model'], classes=4, channels=[8, 8, 16, 32])
    net.initialize()
    sched = build_lr_schedule(0.1, 3, 2, 'cosine', 1)
    trainer = make_trainer(net, sched, num_workers=4, dtype='float16')
    assert trainer._scale == pytest.approx(0.25)
    assert trainer._optimizer.lr_scheduler is sched and trainer._optimizer.multi_precision


def test_make_trainer_gives_momentum_only_to_optimizers_that_take_it():
    """--optimizer adagrad on train-imagenet: MXNet's AdaGrad refuses a momentum argument."""
    from gluon_aff import get_model
    net = get_model(TINY['model'], classes=4, channels=[8, 8, 16, 32])
    net.initialize()
    assert isinstance(make_trainer(net, None, 'adagrad', wd=0.0)._optimizer,
                      mx.optimizer.AdaGrad)
    assert make_trainer(net, None, 'nag', momentum=0.8)._optimizer.momentum == 0.8


def test_amp_option_in_a_fresh_process(tmp_path, tiny_rec):
    # amp.init() patches MXNet for the whole process: run it in a child
    rec, idx = tiny_rec
    code = ('import sys, json; sys.path.insert(0, %r)\n'
            'from gluon_aff.training.imagenet_run import train_imagenet\n'
            'r = train_imagenet(%r, %r, "final", %r, %r, batch_size=8, per_device_batch=True, '
            'lr=0.1, epochs=2, warmup_epochs=1, input_size=32, amp=True, data_threads=1, '
            'progress=False, validate=False, classes=4, model_kwargs=%r)\n'
            'print("AMP-SCALE", r["trainer"]._amp_loss_scaler.loss_scale)\n'
            % (ROOT, TINY['model'], str(tmp_path / 'amp'), rec, idx, TINY['model_kwargs']))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120)
    if out.returncode and 'FP16 gemm on cpu not implemented' in out.stderr:
        pytest.skip('AMP float16 compute is not implemented on CPU in MXNet (FP16 gemm); the '
                    'GPU check runs on the device machine')
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'AMP-SCALE' in out.stdout


def test_server_side_trainer_reports_the_servers_lr(tmp_path):
    # with update_on_kvstore on a dist kvstore the worker's optimizer never updates (its lr
    # stays at the warm-up start, 0): the lr reported is the schedule at the update count,
    # restored count included. lr 0.1, 1 warm-up epoch of 2 updates, then cosine over 2 epochs
    # (gluoncv: 4 iterations, T = update - 2, N = 3).
    from gluon_aff.training.imagenet import ServerSideTrainer
    net = mx.gluon.nn.Dense(2, in_units=3)
    net.initialize()
    sched = build_lr_schedule(0.1, 3, 2, 'cosine', 1)
    trainer = ServerSideTrainer(net.collect_params(), 'nag', {'lr_scheduler': sched},
                                kvstore=None)
    assert trainer.learning_rate == 0.0                      # nothing done yet: warm-up start
    states = str(tmp_path / 'x.states')
    with open(states, 'w') as f:
        json.dump({'num_update': 3, 'server_side': True}, f)  # a resumed run, 3 updates done
    trainer.load_states(states)
    trainer._steps_done += 1                                 # as one step() on the servers
    assert trainer.learning_rate == pytest.approx(0.1 * (1 + math.cos(math.pi * 2 / 3)) / 2)
    assert trainer.learning_rate == pytest.approx(0.025)     # repeatable: scheduler copied
    trainer.save_states(states)
    with open(states) as f:
        assert json.load(f)['num_update'] == 4


# ------------------------------------------------------------------ the original's options
def test_distillation_loss_is_the_originals():
    """--teacher: the teacher's softmax(teacher(X) / T) on the mixed batch, and gluoncv's
    distillation loss on float32 copies, against numpy: (1 - w) T^2 CE(softmax(out / T), p) +
    w CE(softmax(out), target)."""
    from gluon_aff.training.imagenet import DistillationLoss, DistillationTargets

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    teacher = mx.gluon.nn.Dense(4, in_units=3)
    teacher.initialize(mx.init.Normal(1.0))
    x = np.random.RandomState(1).randn(4, 3).astype(np.float32)
    y = np.array([0, 2, 1, 3])
    targets = DistillationTargets(teacher, 4.0, SoftTargets(4, mixup=True, alpha=0.2,
                                                             smoothing=0.1))
    np.random.seed(3)
    lam = np.random.beta(0.2, 0.2)
    np.random.seed(3)
    data, pairs = targets([mx.nd.array(x)], [mx.nd.array(y)], 0)
    mixed = lam * x + (1 - lam) * x[::-1]
    np.testing.assert_allclose(data[0].asnumpy(), mixed, rtol=1e-5)
    w_t, b_t = teacher.weight.data().asnumpy(), teacher.bias.data().asnumpy()
    probs = np.exp(log_softmax((mixed @ w_t.T + b_t) / 4.0))
    np.testing.assert_allclose(pairs[0][1].asnumpy(), probs, rtol=1e-5)
    out = np.random.RandomState(2).randn(4, 4).astype(np.float32)
    loss = DistillationLoss(4.0, 0.3, sparse_label=False)(mx.nd.array(out), pairs[0])
    soft = -(probs * log_softmax(out / 4.0)).sum(axis=1) * 16.0
    hard = -(pairs[0][0].asnumpy() * log_softmax(out)).sum(axis=1)
    np.testing.assert_allclose(loss.asnumpy(), 0.7 * soft + 0.3 * hard, rtol=1e-5)


def _spy_fit(monkeypatch, seen):
    from gluon_aff.training import imagenet_run
    real_fit = imagenet_run.fit

    def spy(net, trainer, train_data, epochs, save_dir, **kwargs):
        params = net._collect_params_with_prefix()
        if all(p._data is not None for p in params.values()):   # not deferred: warm-started
            seen['params'] = {k: p.data().astype('float32').asnumpy()
                              for k, p in params.items()}
        seen['updates'] = trainer._optimizer.num_update
        seen['lr1'] = trainer._optimizer.lr_scheduler(1)
        seen['transform'] = kwargs['batch_transform']
        return real_fit(net, trainer, train_data, epochs, save_dir, **kwargs)
    monkeypatch.setattr(imagenet_run, 'fit', spy)


def test_warm_start_and_teacher(tmp_path, tiny_rec, monkeypatch):
    """--init-from on ImageNet (a run folder, and an original-style float16 .params file):
    weights equal the file's, a fresh optimizer, the schedule from its start. --teacher (a run
    folder): the targets carry the teacher's probabilities and the loss changes."""
    from gluon_aff.training.imagenet import DistillationTargets
    rec, idx = tiny_rec
    first = _run(str(tmp_path / 'first'), rec, idx, epochs=1, warmup_epochs=0)
    loaded = {k: v.asnumpy() for k, v in
              mx.nd.load(os.path.join(str(tmp_path / 'first'), 'best.params')).items()}
    seen = {}
    _spy_fit(monkeypatch, seen)
    warm = _run(str(tmp_path / 'warm'), rec, idx, epochs=2,
                init_from=str(tmp_path / 'first'))
    for key, value in loaded.items():
        np.testing.assert_array_equal(seen['params'][key], value, err_msg=key)
    # warm-up from 0 over 1 epoch of 4 updates (32 images, 8 per update): 0.1 * 1 / 3
    assert seen['updates'] == 0 and seen['lr1'] == pytest.approx(0.1 / 3)
    # an original float16 file (structural keys, save_parameters) of the same network
    half = str(tmp_path / 'half.params')
    mx.nd.save(half, {k: mx.nd.array(v).astype('float16') for k, v in loaded.items()})
    _run(str(tmp_path / 'warm16'), rec, idx, epochs=1, warmup_epochs=0, init_from=half)
    for key, value in loaded.items():
        np.testing.assert_array_equal(seen['params'][key], value.astype(np.float16)
                                      .astype(np.float32), err_msg=key)
    # distillation from the first run (soft targets with the teacher's probabilities)
    taught = _run(str(tmp_path / 'taught'), rec, idx, epochs=1, warmup_epochs=0,
                  teacher=str(tmp_path / 'first'), temperature=4.0, hard_weight=0.5)
    assert isinstance(seen['transform'], DistillationTargets)
    assert 'distillation: teacher %s' % (tmp_path / 'first') in \
        open(str(tmp_path / 'taught' / 'train.log')).read()
    plain = read_metrics(str(tmp_path / 'first'))[0]['train_loss']
    assert np.isfinite(taught['last']['train_loss']) and taught['last']['train_loss'] != plain
    assert warm['last']['epoch'] == 1 and first['best'] is not None


def test_num_layer_and_start_layer_pass_the_zoo_arguments():
    from gluon_aff import get_model
    from gluon_aff.commands import train_imagenet as command
    args = command.parse_args(['--model', 'aff_resnet50', '--num-layer', '101',
                               '--start-layer', '2'])
    kwargs = command.host_kwargs(args, command.HOST_FLAGS)
    assert kwargs == {'depth': 101, 'start_layer': 2}
    net = get_model('aff_resnet50', **kwargs)
    assert [len(s) for s in (net.layer1, net.layer2, net.layer3, net.layer4)] == [3, 4, 23, 3]
    # stage 2 fuses from --start-layer 2 on; by default (3) it adds
    assert type(net.layer2[0].attention).__name__ == 'AFF'
    assert type(get_model('aff_resnet50').layer2[0].attention).__name__ == 'DirectAddFuse'
