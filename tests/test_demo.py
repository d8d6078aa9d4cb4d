"""The demo (gluon-aff demo / scripts/demo.py), shortened to two epochs of batch 16: it learns
(validation accuracy well above the 0.10 of chance), writes every promised output, its best
checkpoint reproduces the logged accuracy through load_run, and the exported symbol reproduces
the trained network's outputs."""
import os

import mxnet as mx
import numpy as np
from mxnet import gluon

from helpers import requires

requires('sklearn', 'the digits demo')
from gluon_aff.commands import demo  # noqa: E402
from gluon_aff.data import digits_datasets, digits_transforms  # noqa: E402
from gluon_aff.training import load_run, read_metrics  # noqa: E402
from gluon_aff.training.cifar import per_class_accuracy  # noqa: E402


def test_demo_learns_and_its_outputs_agree(tmp_path, capsys):
    save_dir = str(tmp_path / 'demo')
    result = demo.main(['--save-dir', save_dir, '--epochs', '2', '--batch-size', '16',
                        '--no-progress'])
    out = capsys.readouterr().out
    assert 'final val accuracy' in out and 'gluon-aff train-cifar' in out
    for name in ('last.params', 'last.states', 'last.json', 'best.json', 'metrics.jsonl',
                 'train.log', 'curves.png'):
        assert os.path.isfile(os.path.join(save_dir, name)), name
    with open(os.path.join(save_dir, 'curves.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    rows = read_metrics(save_dir)
    assert [r['epoch'] for r in rows] == [0, 1]
    assert result['best'] > 0.5                        # chance: 0.10 (10 balanced classes)
    assert rows[1]['train_loss'] < rows[0]['train_loss']
    # the best checkpoint, rebuilt from its record, scores what the run logged
    net, state = load_run(save_dir)
    assert state['model']['name'] == 'cifar_aff_resnet_b1'
    assert state['model']['kwargs'] == {'classes': 10}
    _, val_set = digits_datasets(val_fraction=0.25, seed=0)
    data = gluon.data.DataLoader(val_set.transform_first(digits_transforms(False)),
                                 batch_size=64)
    accuracy, _, _ = per_class_accuracy(net, data, 10)
    assert accuracy == result['best']
    prefix = os.path.join(save_dir, 'export', 'aff_resnet_digits')
    exported = gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data'],
                                         prefix + '-0000.params')
    net, _ = load_run(os.path.join(save_dir, 'last'))
    x = mx.nd.array(np.random.RandomState(0).randn(2, 3, 32, 32))
    np.testing.assert_allclose(exported(x).asnumpy(), net(x).asnumpy(), rtol=1e-4, atol=1e-5)
