"""Low precision on CPU. Deployment (gluon_aff.deploy, scripts/export.py --precision): the fp32
graph equals the model, bf16 and int8 keep the top-1 accuracy of a really trained model (the
demo's digits network, trained here), bad arguments give clear errors. bf16 training
(scripts/train_cifar.py --amp --amp-dtype bfloat16) in a subprocess (AMP patches MXNet for the process)."""
import collections
import json
import logging
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

import gluon_aff
from helpers import requires
from gluon_aff.data import DIGIT_CLASSES, digits_datasets, digits_transforms
from gluon_aff.deploy import optimize
from gluon_aff.export import main as export_main
from gluon_aff.model_zoo import get_cifar_resnet
from gluon_aff.training.cifar import train_classifier
from gluon_aff.training.recipe import get_recipe


def _ops(block):
    nodes = json.loads(block._cached_graph[1].tojson())['nodes']
    return [(node['op'], node.get('attrs', {})) for node in nodes]


def _small_model(name='cifar_aff_resnet_b1', size=32, **kwargs):
    net = gluon_aff.get_model(name, **kwargs)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (4, 3, size, size)))
    net(x)
    return net, x


def _unsupported(precision):
    """Why this CPU cannot run ``precision`` (a tiny network is converted and run), or None."""
    net, x = _small_model('cifar_add_resnet_b1')
    try:
        optimize(net, x, precision, [x] if precision == 'int8' else None)
    except mx.base.MXNetError as err:
        return 'this CPU/MXNet build cannot run %s: %s' % (precision, str(err).splitlines()[0])
    return None


@pytest.mark.parametrize('name, size, kwargs', [
    ('aff_resnet50', 64, dict(layers=[1, 1, 1, 1], classes=10)),  # conv -> BN throughout
    ('cifar_iaff_resnet_b1', 32, {})])                            # pre-activation, input BN
def test_fp32_folds_batchnorm_and_equals_the_model(name, size, kwargs):
    net, x = _small_model(name, size, **kwargs)
    want = net(x).asnumpy()
    block = optimize(net, x, 'fp32')
    got = block(x).asnumpy()
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    # every BN that is the only reader of a convolution's output is folded into it
    nodes = json.loads(net._cached_graph[1].tojson())['nodes']
    readers = collections.Counter(source for node in nodes for source, _, _ in node['inputs'])
    foldable = sum(1 for node in nodes if node['op'] == 'BatchNorm'
                   and nodes[node['inputs'][0][0]]['op'] == 'Convolution'
                   and readers[node['inputs'][0][0]] == 1)
    optimized = _ops(block)
    assert sum(a.get('with_bn') == 'true' for op, a in optimized
               if op == '_sg_mkldnn_conv') == foldable > 0
    assert [op for op, _ in optimized].count('BatchNorm') == \
        [node['op'] for node in nodes].count('BatchNorm') - foldable


@pytest.mark.parametrize('precision', ['fp32', 'int8'])
def test_the_callers_network_keeps_its_hybridization(precision):
    """optimize reads the network; a net hybridized with static_alloc stays so (the plain
    baseline of benchmarks/bench_deploy.py depends on it)."""
    net, x = _small_model()
    net.hybridize(static_alloc=True, static_shape=True)
    optimize(net, x, precision, [x] if precision == 'int8' else None)
    flags = dict(net._flags)
    assert net._active and flags['static_alloc'] and flags['static_shape']


def test_bad_arguments_name_the_problem():
    net, x = _small_model()
    with pytest.raises(ValueError, match='precision must be one of fp32, bf16, int8'):
        optimize(net, x, 'fp16')
    with pytest.raises(ValueError, match='needs calib_data'):
        optimize(net, x, 'int8')
    with pytest.raises(ValueError, match='shaped'):
        optimize(net, x, 'int8', [mx.nd.zeros((2, 3, 16, 16))])
    with pytest.raises(ValueError, match='NCHW'):
        optimize(net, mx.nd.zeros((3, 32, 32)))


def test_export_cli_writes_a_loadable_graph_per_precision(tmp_path):
    calib = tmp_path / 'calib.npy'
    np.save(str(calib), np.random.RandomState(1).uniform(-1, 1, (8, 3, 32, 32)).astype('f4'))
    x = mx.nd.array(np.random.RandomState(2).uniform(-1, 1, (2, 3, 32, 32)))
    for precision in ('fp32', 'bf16', 'int8'):
        if _unsupported(precision):
            continue
        assert export_main(['cifar_aff_resnet_b1', '--out', str(tmp_path), '--precision',
                            precision, '--calib', str(calib)]) == 0
        prefix = str(tmp_path / ('cifar_aff_resnet_b1-%s' % precision))
        block = mx.gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data'],
                                             prefix + '-0000.params')
        assert block(x).shape == (2, 100)
    with pytest.raises(ValueError, match='ONNX export takes the plain float32 graph'):
        export_main(['cifar_aff_resnet_b1', '--out', str(tmp_path), '--precision', 'fp32',
                     '--onnx'])


@pytest.fixture(scope='module')
def digits_model(tmp_path_factory):
    """The demo's network (AFF-ResNet-20-b1, paper version) trained briefly on the digits, its
    validation batches and four calibration batches of training images."""
    requires('sklearn', 'the digits model of the low-precision accuracy test')
    train_set, val_set = digits_datasets(val_fraction=0.25, seed=0)
    net = get_cifar_resnet('aff', blocks=1, version='paper', classes=DIGIT_CLASSES)
    recipe = get_recipe('final-cosine', 'cifar', epochs=8, warmup_epochs=1, batch_size=64,
                        lr=0.2, mixup=False)
    train_classifier(net, train_set, val_set, recipe, str(tmp_path_factory.mktemp('digits')),
                     classes=DIGIT_CLASSES, seed=0, progress=False,
                     transforms=(digits_transforms(True), digits_transforms(False)),
                     logger=logging.getLogger('test_deploy'))
    plain = digits_transforms(False)
    val = list(mx.gluon.data.DataLoader(val_set.transform_first(plain), batch_size=64))
    train = mx.gluon.data.DataLoader(train_set.transform_first(plain), batch_size=64)
    calib = [batch[0] for batch, _ in zip(train, range(4))]
    return net, val, calib


def _top1(block, batches):
    correct = sum(int((block(x).argmax(axis=1).asnumpy() == y.asnumpy()).sum())
                  for x, y in batches)
    return correct / sum(len(y) for _, y in batches)


@pytest.mark.parametrize('precision', ['bf16', 'int8'])
def test_low_precision_keeps_top1_on_digits(digits_model, precision):
    reason = _unsupported(precision)
    if reason:
        pytest.skip(reason)
    net, val, calib = digits_model
    reference = _top1(net, val)
    assert reference > 0.9  # a trained model (0.95 here), not chance (0.1)
    block = optimize(net, val[0][0], precision, calib if precision == 'int8' else None)
    assert abs(_top1(block, val) - reference) <= 0.01


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BF16_PROBE = """
import mxnet as mx
from mxnet import autograd
from mxnet.contrib import amp
amp.init(target_dtype='bfloat16')
conv = mx.gluon.nn.Conv2D(8, 3)
conv.initialize()
x = mx.nd.ones((2, 3, 8, 8))
x.attach_grad()
with autograd.record():
    y = conv(x)
y.backward()
mx.nd.waitall()
"""


def test_bf16_training_through_the_cifar_script(tmp_path):
    """One epoch of the real script with --amp --amp-dtype bfloat16: float32 checkpoints, finite loss, the
    run remembers the option."""
    from cifar_archives import write_python_archive
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    probe = subprocess.run([sys.executable, '-c', BF16_PROBE], env=env, capture_output=True,
                           text=True)
    if probe.returncode:
        pytest.skip('this CPU/MXNet build cannot train in bfloat16: %s'
                    % (probe.stderr.strip().splitlines() or ['?'])[-1])
    data = tmp_path / 'cifar'
    data.mkdir()
    write_python_archive(str(data))
    save = tmp_path / 'run'
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'scripts', 'train_cifar.py'), '--host', 'resnet',
         '--fusion', 'aff', '--blocks', '1', '--version', 'paper', '--batch-size', '16', '-j',
         '0', '--no-progress', '--epochs', '1', '--warmup-epochs', '0', '--data-dir',
         str(data), '--save-dir', str(save), '--amp', '--amp-dtype', 'bfloat16'],
        env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    with open(str(save / 'last.json')) as f:
        state = json.load(f)
    assert state['info']['amp'] == 'bfloat16'
    assert np.isfinite(state['metrics']['train_loss'])
    params = mx.nd.load(str(save / 'last.params'))
    assert {v.dtype for v in params.values()} == {np.float32}
