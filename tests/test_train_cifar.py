"""CIFAR training: recipes' lr schedules vs hand-computed values, an end-to-end run of the real
script on a generated archive, exact resume, the NaN guard and bad inputs."""
import json
import math
import os
import re
import shutil

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from cifar_archives import write_python_archive
from gluon_aff.training import NonFiniteLossError, fit, read_metrics, split_batch
from gluon_aff.errors import UserNotice
from gluon_aff.training.cifar import (MixupTransform, build_cifar_model, build_lr_scheduler,
                                      get_recipe)

from command_helpers import fails_with
from gluon_aff.commands import train_cifar

TINY = ['--host', 'resnet', '--fusion', 'aff', '--blocks', '1', '--version', 'paper',
        '--batch-size', '16', '-j', '0', '--no-progress', '--no-hybridize']


def lr_at(scheduler, epoch, batch, iters_per_epoch):
    """The lr the optimizer uses for ``batch`` of ``epoch`` (its update counter starts at 1)."""
    return scheduler(epoch * iters_per_epoch + batch + 1)


def test_final_recipe_schedule_by_hand():
    recipe = get_recipe('final')
    assert (recipe.epochs, recipe.warmup_epochs, recipe.lr, recipe.mixup_off_epochs,
            recipe.label_smoothing, recipe.no_wd, recipe.init) == (640, 10, 0.2, 40, 0.1, True,
                                                                    'xavier')
    ipe = 50000 // 128                                 # 390 iterations, last batch discarded
    sched = build_lr_scheduler(recipe, ipe)
    # warm-up: 0 -> 0.2 linearly over 3900 updates, gluoncv divides by (3900 - 1)
    assert lr_at(sched, 0, 0, ipe) == pytest.approx(0.2 * 1 / 3899)
    assert lr_at(sched, 5, 0, ipe) == pytest.approx(0.2 * 1951 / 3899)
    # cosine over the remaining 630 epochs = 245700 updates: 0.1 * (1 + cos(pi * t / 245699))
    assert lr_at(sched, 10, 0, ipe) == pytest.approx(0.1 * (1 + math.cos(math.pi * 1 / 245699)))
    assert lr_at(sched, 325, 0, ipe) == pytest.approx(0.1 * (1 + math.cos(
        math.pi * (325 * 390 + 1 - 3900) / 245699)))
    assert lr_at(sched, 325, 0, ipe) == pytest.approx(0.1, abs=1e-4)   # half-way: lr / 2
    assert lr_at(sched, 639, 389, ipe) == pytest.approx(0.0, abs=1e-9)


def test_paper_recipe_schedule_by_hand():
    recipe = get_recipe('paper')
    assert (recipe.epochs, recipe.lr, recipe.batch_size, recipe.wd, recipe.lr_decay_epochs,
            recipe.mixup, recipe.label_smoothing, recipe.warmup_epochs) == \
        (400, 0.2, 128, 1e-4, (300, 350), False, 0.0, 0)
    ipe = 390
    sched = build_lr_scheduler(recipe, ipe)
    expected = {(0, 0): 0.2, (299, 389): 0.2, (300, 0): 0.02, (349, 389): 0.02,
                (350, 0): 0.002, (399, 389): 0.002}
    for (epoch, batch), lr in expected.items():
        assert lr_at(sched, epoch, batch, ipe) == pytest.approx(lr), (epoch, batch)
    custom = build_lr_scheduler(get_recipe('paper', lr_decay_epochs=[2], epochs=4, lr=1.0), 10)
    assert [lr_at(custom, e, 0, 10) for e in range(4)] == pytest.approx([1, 1, 0.1, 0.1])


def test_mixup_and_smoothing_targets_by_hand():
    np.random.seed(0)
    lam = np.random.beta(1.0, 1.0)
    np.random.seed(0)
    x = [mx.nd.array([[1.0], [3.0]])]
    y = [mx.nd.array([0, 2])]
    data, targets = MixupTransform(4, alpha=1.0, off_epoch=5, smoothing=0.1)(x, y, epoch=0)
    np.testing.assert_allclose(data[0].asnumpy(), [[lam + 3 * (1 - lam)], [3 * lam + 1 - lam]],
                               rtol=1e-6)
    on, off = 0.9 + 0.025, 0.025
    first = lam * np.array([on, off, off, off]) + (1 - lam) * np.array([off, off, on, off])
    np.testing.assert_allclose(targets[0].asnumpy()[0], first, rtol=1e-6)
    data, targets = MixupTransform(4, alpha=1.0, off_epoch=5, smoothing=0.0)(x, y, epoch=5)
    np.testing.assert_allclose(data[0].asnumpy(), [[1.0], [3.0]])
    np.testing.assert_allclose(targets[0].asnumpy(), [[1, 0, 0, 0], [0, 0, 1, 0]])


@pytest.fixture(scope='module')
def cifar_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('cifar')
    write_python_archive(str(folder), n_train=64, n_test=32)
    return str(folder)


def _params(prefix):
    return {k: v.asnumpy() for k, v in mx.nd.load(prefix + '.params').items()}


def test_end_to_end_and_exact_resume(cifar_dir, tmp_path, monkeypatch):
    common = TINY + ['--data-dir', cifar_dir, '--recipe', 'final', '--epochs', '3',
                     '--warmup-epochs', '1', '--mixup-off-epochs', '1', '--seed', '7']
    full = str(tmp_path / 'full')
    result = train_cifar.main(common + ['--save-dir', full])
    rows = read_metrics(full)
    assert [r['epoch'] for r in rows] == [0, 1, 2]
    for row in rows:
        assert {'epoch', 'train_loss', 'val_acc', 'lr', 'train_acc'} <= set(row)
        assert math.isfinite(row['train_loss']) and 0 <= row['val_acc'] <= 1
    assert rows[-1]['lr'] == pytest.approx(0.0, abs=1e-9)     # cosine ends at 0
    for name in ('last', 'best'):
        for ext in ('.params', '.states', '.json'):
            assert os.path.isfile(os.path.join(full, name + ext))
    with open(os.path.join(full, 'last.json')) as f:
        state = json.load(f)
    assert state['epoch'] == 2 and state['info']['labels'] == 'coarse'
    assert state['best'] == max(r['val_acc'] for r in rows) == result['best']
    assert os.path.isfile(os.path.join(full, 'train.log'))

    # interrupted after epoch 1 (0-based 0), then resumed with --resume
    part = str(tmp_path / 'part')

    def stop_after_first_epoch(*args, **kwargs):
        kwargs['callbacks'] = [lambda epoch, row: (_ for _ in ()).throw(KeyboardInterrupt)]
        return original(*args, **kwargs)
    original = train_cifar.train_classifier
    monkeypatch.setattr(train_cifar, 'train_classifier', stop_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_cifar.main(common + ['--save-dir', part])
    monkeypatch.setattr(train_cifar, 'train_classifier', original)
    assert [r['epoch'] for r in read_metrics(part)] == [0]
    train_cifar.main(['--resume', part, '-j', '0', '--no-progress'])
    assert [r['epoch'] for r in read_metrics(part)] == [0, 1, 2]
    a, b = _params(os.path.join(full, 'last')), _params(os.path.join(part, 'last'))
    assert sorted(a) == sorted(b)
    # tolerance: identical up to float32 round-off of the same CPU operations (exact in practice)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-6, err_msg=key)
    for ra, rb in zip(read_metrics(full), read_metrics(part)):
        assert rb['train_loss'] == pytest.approx(ra['train_loss'], rel=1e-6)
        assert rb['lr'] == pytest.approx(ra['lr'], rel=1e-9, abs=1e-12)


def _tiny_fit_parts(batch=8):
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(3))
    net.initialize(mx.init.Xavier())
    x = np.random.RandomState(0).rand(16, 5).astype('float32')
    y = np.arange(16) % 3
    data = gluon.data.DataLoader(gluon.data.ArrayDataset(mx.nd.array(x), y), batch_size=batch)
    return net, data


def test_nan_guard_keeps_last_good_checkpoint(tmp_path):
    net, data = _tiny_fit_parts()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
    fit(net, trainer, data, 1, str(tmp_path), progress=False)
    good = _params(str(tmp_path / 'last'))

    def poisoned(output, label):
        return gluon.loss.SoftmaxCrossEntropyLoss()(output, label) * float('nan')
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
    with pytest.raises(NonFiniteLossError, match='nan at epoch 1, batch 0.*last'):
        fit(net, trainer, data, 3, str(tmp_path), loss_fn=poisoned, resume=True, progress=False)
    after = _params(str(tmp_path / 'last'))
    for key in good:
        np.testing.assert_array_equal(after[key], good[key])
    with open(str(tmp_path / 'last.json')) as f:
        assert json.load(f)['epoch'] == 0
    assert [r['epoch'] for r in read_metrics(str(tmp_path))] == [0]


def test_batch_not_divisible_by_devices():
    batch = (mx.nd.zeros((10, 3)), mx.nd.zeros((10,)))
    with pytest.raises(ValueError, match='batch size 10 is not divisible by the number of '
                                         'devices 3'):
        split_batch(batch, [mx.cpu(0), mx.cpu(1), mx.cpu(2)])
    data, labels = split_batch(batch, [mx.cpu(0), mx.cpu(1)])
    assert [d.shape[0] for d in data] == [5, 5]


def _fails_with(argv, message, capsys):
    """The script exits with status 2 and one 'error: ...' line naming the problem."""
    return fails_with(train_cifar.main, argv, message, capsys)


def test_script_bad_inputs(cifar_dir, tmp_path, capsys):
    cases = [
        (['--model', 'cifar_aff_resnet_b9'], 'unknown model'),
        (['--host', 'resnet', '--data-dir', str(tmp_path / 'none')], 'no CIFAR-100 data in'),
        (['--host', 'resnet', '--gpus', '', '--batch-size', '0'], 'must be positive'),
        (['--host', 'resnet', '--labels', 'fine', '--classes', '20'], 'smaller than the 100'),
        (['--resume', str(tmp_path / 'nothing')], 'cannot resume'),
    ]
    for argv, message in cases:
        if '--data-dir' not in argv:
            argv = argv + ['--data-dir', cifar_dir]
        if '--resume' not in argv:
            argv = argv + ['--save-dir', str(tmp_path / 'bad')]
        _fails_with(argv, message, capsys)
        assert not os.path.exists(tmp_path / 'bad')       # a refused run leaves nothing
    corrupt = tmp_path / 'corrupt'
    corrupt.mkdir()
    (corrupt / 'cifar-100-python.tar.gz').write_bytes(b'not an archive')
    _fails_with(['--host', 'resnet', '--data-dir', str(corrupt)], 'corrupt CIFAR-100 data',
                capsys)


def test_total_batch_must_split_over_devices(cifar_dir, capsys, monkeypatch, tmp_path):
    # four devices on any build: four CPU contexts stand in for --gpus 0,1,2,3
    monkeypatch.setattr(train_cifar, 'devices', lambda args: [mx.cpu(i) for i in range(4)])
    _fails_with(['--host', 'resnet', '--data-dir', cifar_dir, '--batch-size', '10',
                 '--total-batch', '--gpus', '0,1,2,3', '--save-dir', str(tmp_path / 'r')],
                'batch size 10 is not divisible by the number of devices 4', capsys)


def test_no_wd_rule_is_the_originals():
    """``--no-wd`` (open-aff: ``collect_params('.*beta|.*gamma|.*bias')``, wd_mult 0): exactly
    the BN gammas/betas and the biases lose weight decay; conv and dense weights keep it."""
    from gluon_aff import get_model
    from gluon_aff.training.cifar import apply_no_wd
    net = get_model('cifar_aff_resnet_b1', classes=10)   # BN, convs with/without bias, dense
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    apply_no_wd(net)
    mults = {key: p.wd_mult for key, p in net._collect_params_with_prefix().items()}
    kinds = {key.rsplit('.', 1)[1] for key in mults}
    assert kinds == {'weight', 'bias', 'gamma', 'beta', 'running_mean', 'running_var'}
    for key, mult in mults.items():
        kind = key.rsplit('.', 1)[1]
        assert mult == (0.0 if kind in ('gamma', 'beta', 'bias') else 1.0), key
    assert mults['output.weight'] == 1.0 and mults['output.bias'] == 0.0
    assert mults['features.1.weight'] == 1.0                          # stem conv
    assert mults['features.2.0.attention.local_att.0.bias'] == 0.0    # attention conv bias


# ------------------------------------------------------------------ the run folder, end to end
@pytest.fixture(scope='module')
def finished_run(cifar_dir, tmp_path_factory):
    """A finished 1-epoch run of the script on coarse labels."""
    run = str(tmp_path_factory.mktemp('finished') / 'run')
    train_cifar.main(TINY + ['--data-dir', cifar_dir, '--recipe', 'paper', '--epochs', '1',
                             '--save-dir', run])
    return run


def _snapshot(run):
    return {f: open(os.path.join(run, f), 'rb').read() for f in sorted(os.listdir(run))}


def test_a_finished_run_is_never_overwritten_silently(finished_run, cifar_dir, capsys):
    before = _snapshot(finished_run)
    argv = TINY + ['--data-dir', cifar_dir, '--recipe', 'paper', '--epochs', '1', '--save-dir',
                   finished_run]
    line = _fails_with(argv, 'already holds a run', capsys)
    assert '--resume' in line and '--overwrite' in line and finished_run + '.old-1' in line
    assert _snapshot(finished_run) == before                    # best, metrics, log untouched
    train_cifar.main(argv + ['--overwrite'])
    assert _snapshot(finished_run + '.old-1') == before         # moved aside, not deleted
    assert [r['epoch'] for r in read_metrics(finished_run)] == [0]


def test_train_log_records_data_labels_devices_recipe(finished_run):
    log = open(os.path.join(finished_run, 'train.log')).read()
    assert re.search(r'data: CIFAR-100, python format, read from .*cifar-100-python\.tar\.gz: '
                     r'64 training / 32 test images', log), log
    assert 'labels: coarse (20 classes)' in log and 'devices: cpu(0)' in log
    assert "recipe: {'name': 'paper'" in log and 'model: cifar_aff_resnet_b1' in log
    with open(os.path.join(finished_run, 'last.json')) as f:
        model = json.load(f)['model']
    assert model['name'] == 'cifar_aff_resnet_b1' and model['kwargs'] == {}
    assert model['card']['dataset'] == 'cifar100' and model['card']['input_size'] == [32, 32]


def test_failed_starts_leave_nothing(cifar_dir, tmp_path, capsys, monkeypatch):
    run = str(tmp_path / 'run')
    # a batch larger than the data (64 images): fails in the set-up, after the folder opened
    _fails_with(['--host', 'resnet', '--data-dir', cifar_dir, '--batch-size', '128',
                 '--save-dir', run], 'smaller than one batch', capsys)
    assert not os.path.exists(run)
    # NaN in epoch 0
    monkeypatch.setattr(gluon.loss.SoftmaxCrossEntropyLoss, 'hybrid_forward',
                        lambda self, F, pred, label, sample_weight=None: F.sum(pred, axis=1) *
                        float('nan'))
    line = _fails_with(TINY + ['--data-dir', cifar_dir, '--epochs', '2', '--save-dir', run],
                       'training loss became nan at epoch 0, batch 0', capsys)
    assert 'last good checkpoint' not in line
    assert not os.path.exists(run)


def test_resume_with_damaged_checkpoint_files(finished_run, tmp_path, capsys):
    for name, garbage, message in (('last.params', b'\x00garbage', 'last.params does not belong'),
                                   ('last.states', b'garbage', 'last.states does not belong'),
                                   ('last.json', b'{\n', 'last.json is not a checkpoint state')):
        run = str(tmp_path / name)
        shutil.copytree(finished_run, run)
        with open(os.path.join(run, name), 'wb') as f:
            f.write(garbage)
        line = _fails_with(['--resume', run, '--epochs', '2'], message, capsys)
        assert os.path.join(run, name) in line and '--overwrite' in line


def test_imagenet_model_refused_by_the_cifar_trainer(cifar_dir, tmp_path, capsys):
    line = _fails_with(['--model', 'aff_resnet50', '--data-dir', cifar_dir, '--save-dir',
                        str(tmp_path / 'r')], 'aff_resnet50 is a classification model for '
                       'imagenet (224x224 input)', capsys)
    assert 'train-imagenet' in line and not os.path.exists(tmp_path / 'r')


def test_smoke_run_clips_the_warm_up(cifar_dir, tmp_path, capsys):
    from gluon_aff.cli import run
    with pytest.warns(UserNotice, match='warm-up of 10 epochs does not fit a run of 1 epoch'):
        recipe = get_recipe('final', epochs=1)
    assert recipe.warmup_epochs == 0
    # the clipped schedule: no warm-up, cosine from 0.2 to 0 over one epoch of 4 updates
    # (gluoncv: T = update, N = 4 - 1, T clipped to N): 0.15, 0.05, 0, 0
    sched = build_lr_scheduler(recipe, 4)
    assert [lr_at(sched, 0, b, 4) for b in range(4)] == pytest.approx(
        [0.1 * (1 + math.cos(math.pi * min(t, 3) / 3)) for t in range(1, 5)], abs=1e-12)
    capsys.readouterr()
    assert run(train_cifar.main, TINY + ['--data-dir', cifar_dir, '--recipe', 'final',
                                         '--epochs', '1', '--save-dir',
                                         str(tmp_path / 'r')]) == 0
    assert 'warning: a warm-up of 10 epochs does not fit a run of 1 epoch(s): clipped to 0' in \
        capsys.readouterr().err
    assert [r['epoch'] for r in read_metrics(str(tmp_path / 'r'))] == [0]


def test_download_offline_is_one_line(tmp_path, capsys, monkeypatch):
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError('Failed to resolve data.mxnet.io')
    monkeypatch.setattr(requests, 'get', offline)
    line = _fails_with(['--host', 'resnet', '--download', '--data-dir', str(tmp_path / 'data'),
                        '--save-dir', str(tmp_path / 'r')], 'cannot download CIFAR-100 into',
                       capsys)
    assert 'ConnectionError' in line and 'by hand' in line
    assert 'download failed' not in capsys.readouterr().out       # gluon's retries, hidden


def test_eval_refuses_another_label_set_and_other_networks(finished_run, cifar_dir, tmp_path,
                                                           capsys):
    from gluon_aff.commands import eval_cifar
    acc = eval_cifar.main(['--run', finished_run])
    assert 'coarse labels, 32 test images' in capsys.readouterr().out and 0 <= acc <= 1
    line = fails_with(eval_cifar.main, ['--run', finished_run, '--labels', 'fine'],
                      'was trained on the coarse labels (20 classes)', capsys)
    assert 'never learned' in line
    # the old positional spelling still works, with a deprecation notice
    with pytest.warns(UserNotice, match='deprecated; use --run'):
        assert eval_cifar.main([finished_run]) == acc
    # a params file of another network, and a garbage one
    other = str(tmp_path / 'other.params')
    net = build_cifar_model('cifar_add_resnet_b1')
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    net.save_parameters(other)
    fails_with(eval_cifar.main, ['--params', other, '--model', 'cifar_aff_resnet_b1',
                                 '--data-dir', cifar_dir], other, capsys)
    garbage = str(tmp_path / 'garbage.params')
    with open(garbage, 'wb') as f:
        f.write(b'\x00' * 64)
    line = fails_with(eval_cifar.main, ['--params', garbage, '--model', 'cifar_aff_resnet_b1',
                                        '--data-dir', cifar_dir], garbage, capsys)
    assert 'is not an MXNet .params file' in line
    fails_with(eval_cifar.main, ['--params', other], '--model NAME', capsys)
    fails_with(eval_cifar.main, ['--run', str(tmp_path / 'nowhere')], 'nowhere', capsys)
