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
from gluon_aff.training.imagenet import (RECIPES, ImageNetTargets, build_lr_scheduler,
                                         disable_bias_bn_wd, get_recipe, iters_per_epoch,
                                         make_trainer, resolve_batch, scaled_lr)
from gluon_aff.training.imagenet_run import evaluate_imagenet, parse_gpus, train_imagenet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(model='cifar_aff_resnet_b1', classes=4, model_kwargs={'channels': [8, 8, 16, 32]})


def test_recipes_match_the_original_logs():
    # Namespace(...) headers of open-aff's ImageNet logs (final: aff_resnet50.log; paper:
    # resnet50_v1b_best_AFF_mixup.log)
    for name, epochs, off in (('final', 240, 5), ('paper', 160, 0)):
        r = RECIPES[name]
        assert (r['epochs'], r['mixup_off_epochs']) == (epochs, off)
        assert (r['lr'], r['momentum'], r['wd'], r['warmup_epochs']) == (0.075, 0.9, 1e-4, 5)
        assert (r['optimizer'], r['lr_mode'], r['dtype']) == ('nag', 'cosine', 'float16')
        assert r['mixup'] and r['mixup_alpha'] == 0.2 and r['label_smoothing'] == 0.1
        assert r['no_wd'] and r['ref_batch'] == 128 * 4
    with pytest.raises(ValueError, match='unknown recipe'):
        get_recipe('fast')
    with pytest.raises(ValueError, match='unknown recipe keys'):
        get_recipe('final', learning_rate=1)


def test_lr_schedule_reproduces_the_original_log():
    # 4 GPUs x 128 = 512; 1281167 // 512 = 2502 iterations per epoch (the original's num_batches)
    iters = iters_per_epoch(NUM_TRAINING_SAMPLES, 512)
    assert iters == 2502
    sched = build_lr_scheduler(0.075, 240, 5, iters)
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
    assert resolve_batch(512, 4) == (512, 512, 128)
    assert scaled_lr(0.075, 512) == pytest.approx(0.075)
    assert scaled_lr(0.075, 256) == pytest.approx(0.0375)
    assert resolve_batch(1024, 4, num_workers=2) == (1024, 512, 128)
    # the original: batch per device, lr as given whatever the device count
    assert resolve_batch(128, 2, per_device=True) == (256, 256, 128)
    assert scaled_lr(0.075, 256, per_device=True) == 0.075
    with pytest.raises(ValueError, match='not divisible'):
        resolve_batch(510, 4)


def test_targets_match_numpy_mixup_and_smoothing():
    labels = [mx.nd.array([0, 2, 1, 3])]
    data = [mx.nd.array(np.arange(4 * 3, dtype=np.float32).reshape(4, 3))]
    tf = ImageNetTargets(4, epochs=10, mixup=True, mixup_alpha=0.2, mixup_off_epochs=2,
                         label_smoothing=0.1)
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
    hard = ImageNetTargets(4, 10, mixup=False, label_smoothing=0.0, dtype='float16')
    assert hard.sparse_label
    x, y = hard(data, labels, 0)
    assert x[0].dtype == np.float16 and list(y[0].asnumpy()) == [0, 2, 1, 3]


def test_no_wd_on_bias_and_bn():
    from gluon_aff import get_model
    net = get_model(TINY['model'], classes=4, channels=[8, 8, 16, 32])
    net.initialize()
    changed = disable_bias_bn_wd(net)
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
    full = _run(str(tmp_path / 'full'), rec, idx, epochs=3, **kw)
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
    sched = build_lr_scheduler(0.1, 3, 1, 2)
    trainer = make_trainer(net, sched, num_workers=4, dtype='float16')
    assert trainer._scale == pytest.approx(0.25)
    assert trainer._optimizer.lr_scheduler is sched and trainer._optimizer.multi_precision


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
    sched = build_lr_scheduler(0.1, 3, 1, 2)
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
