"""The run folder (gluon_aff.training.Run), consistent checkpoints, load_run and model records,
file modes, the live/stopped rule and the curves."""
import json
import os
import socket
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from gluon_aff import get_model
from gluon_aff.errors import MissingInputError, UserError
from gluon_aff.training import (RUNNING, STOPPED, Run, fit, load_run, model_card, model_record,
                                read_metrics, run_status)
from gluon_aff.training.checkpoint import (checkpoint_files, load_checkpoint, read_state,
                                           recover_checkpoint, save_checkpoint)
from gluon_aff.training.curves import curves_figure, plot_curves


def _tiny(seed=0):
    mx.random.seed(seed)
    net = gluon.nn.Dense(3, in_units=5)
    net.initialize(mx.init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1, 'momentum': 0.9})
    rs = np.random.RandomState(0)
    data = gluon.data.DataLoader(gluon.data.ArrayDataset(
        rs.rand(16, 5).astype('float32'), (np.arange(16) % 3).astype('float32')), batch_size=8)
    return net, trainer, data


def _train(save_dir, epochs=1, resume=False, overwrite=False, **kw):
    net, trainer, data = _tiny()
    with Run(save_dir, resume=resume, overwrite=overwrite, console=False) as run:
        return fit(net, trainer, data, epochs, run.dir, progress=False, resume=resume,
                   logger=run.logger, **kw)


def _tree(path):
    return sorted(os.path.relpath(os.path.join(b, f), path)
                  for b, _, files in os.walk(path) for f in files)


# ------------------------------------------------------------------ refuse / resume / overwrite
def test_refuses_a_folder_with_a_run_resumes_and_moves_aside(tmp_path):
    d = str(tmp_path / 'run')
    _train(d)
    before = {f: open(os.path.join(d, f), 'rb').read() for f in _tree(d)}
    with pytest.raises(UserError, match='already holds a run.*--resume.*--overwrite.*run.old-1'):
        _train(d)
    assert {f: open(os.path.join(d, f), 'rb').read() for f in _tree(d)} == before
    _train(d, epochs=2, resume=True)
    assert [r['epoch'] for r in read_metrics(d)] == [0, 1]
    _train(d, overwrite=True)
    assert [r['epoch'] for r in read_metrics(d + '.old-1')] == [0, 1]
    assert [r['epoch'] for r in read_metrics(d)] == [0]
    _train(d, overwrite=True)
    assert os.path.isdir(d + '.old-1') and os.path.isdir(d + '.old-2')   # never deleted
    with pytest.raises(MissingInputError, match='cannot resume.*does not exist'):
        _train(str(tmp_path / 'nothing'), resume=True)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(MissingInputError, match='no complete checkpoint'):
        _train(str(empty), resume=True)
    (empty / 'notes.txt').write_text('mine')                 # not a run: used as it is
    _train(str(empty))
    assert (empty / 'notes.txt').read_text() == 'mine'


def test_failed_start_removes_only_what_it_created(tmp_path):
    class Boom(Exception):
        pass

    def boom(*args, **kwargs):
        raise Boom()
    new = str(tmp_path / 'new')
    with pytest.raises(Boom):
        with Run(new, console=False):
            boom()
    assert not os.path.exists(new)
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'notes.txt').write_text('kept')
    with pytest.raises(KeyboardInterrupt):
        with Run(str(mine), console=False) as run:
            open(os.path.join(run.dir, 'metrics.jsonl'), 'w').close()
            raise KeyboardInterrupt
    assert _tree(str(mine)) == ['notes.txt']
    # --overwrite, then a failure before the first checkpoint: the old run is put back
    old = str(tmp_path / 'old')
    _train(old)
    before = _tree(old)
    with pytest.raises(Boom):
        with Run(old, overwrite=True, console=False):
            assert not os.path.exists(os.path.join(old, 'last.json'))
            boom()
    assert _tree(old) == before and not os.path.exists(old + '.old-1')
    # a failure after the first checkpoint keeps the run and says how to resume
    kept = str(tmp_path / 'kept')
    with pytest.raises(Boom):
        _train(kept, epochs=3, callbacks=[lambda epoch, row: boom() if epoch == 1 else None])
    log = open(os.path.join(kept, 'train.log')).read()
    assert 'stopped by Boom' in log and 'checkpoint is epoch 1' in log
    assert not os.path.exists(os.path.join(kept, 'run.lock'))


def test_interruption_and_resume_points_are_logged(tmp_path, capsys):
    d = str(tmp_path / 'r')

    def stop(epoch, row):
        if epoch == 0:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        _train(d, epochs=3, callbacks=[stop])
    _train(d, epochs=3, resume=True)
    log = open(os.path.join(d, 'train.log')).read()
    assert 'interrupted; the last complete checkpoint is epoch 0' in log
    assert 'resume: %s, after epoch 0' % d in log and 'resumed from' in log
    with pytest.raises(KeyboardInterrupt):                    # before any checkpoint
        with Run(str(tmp_path / 'early')) as run:
            raise KeyboardInterrupt
    assert 'interrupted before the first checkpoint: nothing to resume' in \
        capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'early')


def test_files_are_0644(tmp_path):
    old = os.umask(0o022)
    try:
        d = str(tmp_path / 'r')
        _train(d, best_key='train_loss', best_mode='min')
        plot_curves([d], os.path.join(d, 'curves.png'))
        modes = {f: os.stat(os.path.join(d, f)).st_mode & 0o777 for f in _tree(d)}
    finally:
        os.umask(old)
    assert set(modes) >= {'last.params', 'last.states', 'last.json', 'best.json',
                          'metrics.jsonl', 'train.log', 'curves.png'}
    assert set(modes.values()) == {0o644}, modes


# ------------------------------------------------------------------ liveness
def test_status_running_while_a_process_holds_the_lock(tmp_path):
    d = str(tmp_path / 'r')
    with Run(d, console=False):
        assert run_status(d) == RUNNING
        with pytest.raises(UserError, match='in use by process %d' % os.getpid()):
            Run.check(d, resume=True)
    assert run_status(d) == STOPPED and not os.path.exists(os.path.join(d, 'run.lock'))
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    lock = os.path.join(d, 'run.lock')
    with open(lock, 'w') as f:                                # a killed process's lock
        json.dump({'pid': dead.pid, 'host': socket.gethostname()}, f)
    assert run_status(d) == STOPPED
    with open(lock, 'w') as f:                                # another host: its heartbeat
        json.dump({'pid': 1, 'host': 'elsewhere'}, f)
    assert run_status(d) == RUNNING
    stale = time.time() - Run.STALE_AFTER_S - 1
    os.utime(lock, (stale, stale))
    assert run_status(d) == STOPPED


# ------------------------------------------------------------------ checkpoints
def test_checkpoint_set_stays_consistent_when_a_save_is_cut(tmp_path):
    net, trainer, data = _tiny()
    prefix = str(tmp_path / 'last')
    fit(net, trainer, data, 1, str(tmp_path), progress=False)
    first = read_state(prefix)
    old = {ext: open(prefix + ext, 'rb').read() for ext in ('.params', '.states', '.json')}
    # killed after writing the new params but before the commit point: the old set is valid
    net.weight.set_data(net.weight.data() + 1)
    net.save_parameters(prefix + '.params.new')
    assert checkpoint_files(prefix) == {e: prefix + e for e in ('.params', '.states', '.json')}
    assert recover_checkpoint(prefix) == prefix and not os.path.exists(prefix + '.params.new')
    assert {ext: open(prefix + ext, 'rb').read() for ext in old} == old
    # killed after the commit point (.json.new written), params already renamed: rolled forward
    save_checkpoint(str(tmp_path / 'next'), net, trainer, epoch=1)
    for ext in ('.params', '.states', '.json'):
        os.replace(str(tmp_path / 'next') + ext, prefix + ext + '.new')
    os.replace(prefix + '.params.new', prefix + '.params')
    view = checkpoint_files(prefix)
    assert view['.json'] == prefix + '.json.new' and view['.params'] == prefix + '.params'
    assert read_state(prefix)['epoch'] == 1                   # read-only view: the new set
    recover_checkpoint(prefix)
    assert read_state(prefix)['epoch'] == 1 and first['epoch'] == 0
    assert not [f for f in os.listdir(str(tmp_path)) if f.endswith('.new')]
    state = load_checkpoint(prefix, _tiny()[0])
    assert state['files']['params'] and state['has_states']


def test_damaged_checkpoint_files_are_named(tmp_path):
    d = str(tmp_path / 'r')
    _train(d)
    prefix = os.path.join(d, 'last')
    with open(prefix + '.params', 'ab') as f:
        f.write(b'x')
    with pytest.raises(UserError, match='last.params does not belong to .*last.json'):
        load_checkpoint(prefix, _tiny()[0])
    with open(prefix + '.json', 'w') as f:
        f.write('{\n')
    with pytest.raises(UserError, match='last.json is not a checkpoint state.*--overwrite'):
        read_state(prefix)


# ------------------------------------------------------------------ load_run / model record
def test_model_card_record():
    def fields(card):
        return {k: card[k] for k in ('task', 'dataset', 'input_size', 'mean', 'std', 'classes')}
    assert fields(model_card('cifar_aff_resnet32')) == dict(
        task='classification', dataset='cifar100', input_size=[32, 32],
        mean=[0.4914, 0.4822, 0.4465], std=[0.2023, 0.1994, 0.2010], classes=100)
    assert fields(model_card('aff_resnext50_32x4d')) == dict(
        task='classification', dataset='imagenet', input_size=[224, 224],
        mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], classes=1000)
    card = model_card('fpn_iaff_resnet_b2')
    assert (card['task'], card['dataset'], card['classes']) == ('segmentation', 'stopsign', 2)
    assert json.loads(json.dumps(card)) == card              # as a checkpoint stores it
    with pytest.raises(UserError, match='unknown model'):
        model_card('cifar_aff_resnet33')
    assert model_record('cifar_aff_resnet_b1', {'classes': 10}) == {
        'name': 'cifar_aff_resnet_b1', 'kwargs': {'classes': 10},
        'card': model_card('cifar_aff_resnet_b1')}


def test_load_run_every_way(tmp_path):
    kwargs = {'classes': 10, 'channels': [8, 8, 16, 32]}
    record = model_record('cifar_iaff_resnet_b1', kwargs)
    net = get_model('cifar_iaff_resnet_b1', **kwargs)
    net.initialize(mx.init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
    x = mx.nd.array(np.random.RandomState(1).rand(2, 3, 32, 32))
    want = net(x).asnumpy()
    d = tmp_path / 'run'
    d.mkdir()
    save_checkpoint(str(d / 'last'), net, trainer, epoch=3, model=record, info={})
    for path in (str(d), str(d / 'last'), str(d / 'last.params')):
        loaded, state = load_run(path)
        assert state['epoch'] == 3 and state['model'] == record, path
        np.testing.assert_allclose(loaded(x).asnumpy(), want, rtol=1e-6, atol=1e-6)
    bare = str(tmp_path / 'bare.params')
    net.save_parameters(bare)
    loaded, state = load_run(bare, model='cifar_iaff_resnet_b1', model_kwargs=kwargs)
    np.testing.assert_allclose(loaded(x).asnumpy(), want, rtol=1e-6, atol=1e-6)
    assert state['epoch'] is None and state['model'] == record
    with pytest.raises(UserError, match='bare.params is a parameter file.*--model NAME'):
        load_run(bare)
    with pytest.raises(UserError, match='holds cifar_iaff_resnet_b1, not cifar_aff_resnet_b1'):
        load_run(str(d), model='cifar_aff_resnet_b1')
    with pytest.raises(UserError, match='bare.params.*does not fit.*--model'):
        load_run(bare, model='cifar_iaff_resnet_b1')              # 100-way head expected
    with pytest.raises(MissingInputError, match='no run folder, checkpoint or .params'):
        load_run(str(tmp_path / 'missing'))
    with pytest.raises(MissingInputError, match='holds no checkpoint'):
        load_run(str(tmp_path))


# ------------------------------------------------------------------ curves
def test_one_epoch_curves_show_markers_and_integer_ticks(tmp_path):
    d = tmp_path / 'one'
    d.mkdir()
    (d / 'metrics.jsonl').write_text(json.dumps({'epoch': 0, 'train_loss': 1.5, 'train_acc': 0.4,
                                                 'val_acc': 0.5}) + '\n')
    fig = curves_figure([str(d), str(d)], names=['a', 'b'])
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    assert len(lines) == 6                          # loss + 2 accuracies, for both runs
    assert all(line.get_marker() not in (None, '', 'None') for line in lines)
    assert all(list(line.get_xdata()) == [1] for line in lines)
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
