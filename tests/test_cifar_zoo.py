"""Every CIFAR zoo entry against its manifest from the original open-aff code: structural
checkpoint keys and shapes, both parameter counts, and the seeded golden output (imperative,
hybridized, and after an export + SymbolBlock.imports round trip)."""
import os

import mxnet as mx
import numpy as np
import pytest

import gluon_aff
from helpers import (golden_error, load_manifest, load_seeded, manifest_names, seeded_input,
                     structural_shapes)

CIFAR = manifest_names('cifar_')
TOL = 1e-5  # max abs error relative to max |golden|


def _build(name, manifest):
    net = gluon_aff.get_model(name)
    net.initialize()
    x = mx.nd.array(seeded_input(manifest['input_shape']))
    net(x)  # resolve deferred shapes
    return net, x


def test_every_cifar_manifest_has_a_zoo_entry():
    assert len(CIFAR) == 55  # 7 final + 48 ablation + ResNeXt-38 paper
    missing = sorted(set(CIFAR) - set(gluon_aff.get_model_list()))
    assert not missing


@pytest.mark.parametrize('name', CIFAR)
def test_cifar_model_matches_manifest(name, tmp_path):
    m = load_manifest(name)
    net, x = _build(name, m)
    assert structural_shapes(net) == {k: s for k, s in m['params']}

    params = net._collect_params_with_prefix().values()
    assert sum(int(np.prod(p.shape)) for p in params) == m['num_params_all']
    trainable = sum(int(np.prod(p.shape)) for p in params if p.grad_req != 'null')
    assert trainable == m['num_params_trainable']

    load_seeded(net, m)
    assert golden_error(net(x).asnumpy(), m) <= TOL
    net.hybridize()
    y = net(x).asnumpy()
    assert list(y.shape) == m['output_shape']
    assert golden_error(y, m) <= TOL

    prefix = str(tmp_path / name)
    net.export(prefix)
    imported = mx.gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data'],
                                            prefix + '-0000.params')
    assert golden_error(imported(x).asnumpy(), m) <= TOL


@pytest.mark.parametrize('name, millions', [('cifar_aff_resnet32', 7.9),
                                            ('cifar_aff_resnext38_32x4d', 7.8),
                                            ('cifar_aff_resnext47_32x4d', 9.7)])
def test_readme_parameter_counts(name, millions):
    """The open-aff README counts all parameters, BN running statistics included."""
    net = gluon_aff.get_model(name)
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    total = sum(int(np.prod(p.shape)) for p in net.collect_params().values())
    assert round(total / 1e6, 1) == millions


def test_save_load_roundtrip_with_original_keys(tmp_path):
    """save_parameters writes exactly the manifest's keys and load_parameters reads them back."""
    name = 'cifar_iaff_resnet_b1'
    m = load_manifest(name)
    net, x = _build(name, m)
    load_seeded(net, m)
    path = str(tmp_path / 'ckpt.params')
    net.save_parameters(path)
    assert sorted(mx.nd.load(path)) == sorted(k for k, _ in m['params'])
    fresh = gluon_aff.get_model(name)
    fresh.load_parameters(path)
    assert golden_error(fresh(x).asnumpy(), m) <= TOL


def test_get_model_kwargs_and_errors():
    net = gluon_aff.get_model('cifar_aff_resnet_b1', classes=20, fusion='iaff')
    net.initialize()
    assert net(mx.nd.zeros((1, 3, 32, 32))).shape == (1, 20)
    assert 'local_att2' in net.features[2][0].attention._children
    with pytest.raises(ValueError, match=r"unknown model 'cifar_aff_resnet33'.*did you mean"):
        gluon_aff.get_model('cifar_aff_resnet33')
    with pytest.raises(ValueError, match='unknown fusion'):
        gluon_aff.get_model('cifar_aff_resnet_b1', fusion='sum')
    with pytest.raises(ValueError, match='not divisible'):
        gluon_aff.get_model('cifar_aff_resnet_b1', channels=[16, 10, 32, 64])
    with pytest.raises(ValueError, match='one entry more than layers'):
        gluon_aff.get_model('cifar_aff_resnet_b1', channels=[16, 32, 64])


def test_pretrained_missing_file_names_the_expected_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'cifar_aff_resnet32-<first 8 hex'):
        gluon_aff.get_model('cifar_aff_resnet32', pretrained=True, root=str(tmp_path))


def test_pretrained_loads_and_checks_sha1(tmp_path):
    import hashlib
    net = gluon_aff.get_model('cifar_add_resnet_b1')
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    tmp = str(tmp_path / 'w.params')
    net.save_parameters(tmp)
    sha = hashlib.sha1(open(tmp, 'rb').read()).hexdigest()
    os.rename(tmp, str(tmp_path / ('cifar_add_resnet_b1-%s.params' % sha[:8])))
    loaded = gluon_aff.get_model('cifar_add_resnet_b1', pretrained=True, root=str(tmp_path))
    x = mx.nd.array(seeded_input((1, 3, 32, 32)))
    np.testing.assert_array_equal(loaded(x).asnumpy(), net(x).asnumpy())
    os.rename(str(tmp_path / ('cifar_add_resnet_b1-%s.params' % sha[:8])),
              str(tmp_path / 'cifar_add_resnet_b1-00000000.params'))
    with pytest.raises(ValueError, match='SHA-1 does not match'):
        gluon_aff.get_model('cifar_add_resnet_b1', pretrained=True, root=str(tmp_path))


def test_wrong_input_shape_names_the_shape():
    net = gluon_aff.get_model('cifar_aff_resnet_b1')
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    with pytest.raises(ValueError, match=r'expects an \(N, C, H, W\) image batch, got shape '
                                         r'\(3, 32, 32\)'):
        net(mx.nd.zeros((3, 32, 32)))
    with pytest.raises(ValueError, match=r'built for 3 input channels.*\(1, 1, 32, 32\)'):
        net(mx.nd.zeros((1, 1, 32, 32)))
