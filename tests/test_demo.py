"""scripts/demo.py for one epoch: every promised output exists and the exported symbol reproduces
the trained network's outputs."""
import os
import sys

import mxnet as mx
import numpy as np
from mxnet import gluon

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'scripts'))
import demo  # noqa: E402
from gluon_aff.model_zoo import get_cifar_resnet  # noqa: E402


def test_demo_outputs(tmp_path, capsys):
    save_dir = str(tmp_path / 'demo')
    result = demo.main(['--save-dir', save_dir, '--epochs', '1', '--no-progress'])
    out = capsys.readouterr().out
    assert 'final val accuracy' in out and 'scripts/train_cifar.py' in out
    for name in ('last.params', 'last.states', 'last.json', 'best.json', 'metrics.jsonl',
                 'train.log', 'curves.png'):
        assert os.path.isfile(os.path.join(save_dir, name)), name
    with open(os.path.join(save_dir, 'curves.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert 0.0 <= result['last']['val_acc'] <= 1.0
    prefix = os.path.join(save_dir, 'export', 'aff_resnet_digits')
    exported = gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data'],
                                         prefix + '-0000.params')
    net = get_cifar_resnet('aff', blocks=1, version='paper', classes=10)
    net.load_parameters(os.path.join(save_dir, 'last.params'))
    x = mx.nd.array(np.random.RandomState(0).randn(2, 3, 32, 32))
    np.testing.assert_allclose(exported(x).asnumpy(), net(x).asnumpy(), rtol=1e-4, atol=1e-5)
