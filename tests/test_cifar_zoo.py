"""Every CIFAR zoo entry against its manifest from the original open-aff code: structural
checkpoint keys and shapes, both parameter counts, and the seeded golden output (imperative,
hybridized, and after an export + SymbolBlock.imports round trip)."""
import os

import mxnet as mx
import numpy as np
import pytest

import gluon_aff
from helpers import (check_against_manifest, golden_error, load_manifest, load_seeded,
                     manifest_names, param_counts, resolved_model, seeded_input)

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
    assert check_against_manifest(net, m, x) <= TOL
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
    total, _ = param_counts(resolved_model(name))
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


# ---- the original train_cifar.py options (--start-layer, --channel-times, --deep-stem) ----

def _aff_params(channels, r):
    """Trainable parameters of one AFF: two branches conv(C/r, bias)-BN-conv(C, bias)-BN."""
    inner = channels // r
    return 2 * (channels * inner + inner + 2 * inner + inner * channels + channels + 2 * channels)


def _plain_preact_resnet_params(widths, blocks, classes=100):
    """Trainable parameters of the CIFAR pre-activation ResNet with plain additions, by hand:
    stem conv3x3; per block BN-conv3x3-BN-conv3x3 (+ a 1x1 projection when the width changes);
    head BN + Dense. The stem BN(scale=False, center=False) has nothing to train."""
    total = 3 * widths[0] * 9
    in_channels = widths[0]
    for width in widths[1:]:
        for j in range(blocks):
            block_in = in_channels if j == 0 else width
            total += 2 * block_in + block_in * width * 9 + 2 * width + width * width * 9
            total += block_in * width if block_in != width else 0
        in_channels = width
    return total + 2 * widths[-1] + widths[-1] * classes + classes


@pytest.mark.parametrize('name, times, blocks', [
    ('cifar_add_resnet32', 4, 5),            # final default: --channel-times 4
    ('cifar_add_resnet_b2', 1, 2)])          # paper default: --channel-times 1
def test_channel_times_scales_the_widths(name, times, blocks):
    base = (16, 16, 32, 64)
    assert param_counts(resolved_model(name))[1] == _plain_preact_resnet_params(
        [w * times for w in base], blocks)
    wide = resolved_model(name, channel_times=2)
    assert param_counts(wide)[1] == _plain_preact_resnet_params([w * 2 for w in base], blocks)
    assert wide.features[1].weight.shape == (32, 3, 3, 3) and wide.output.weight.shape[1] == 128


def test_start_layer_leaves_the_first_stages_plain():
    """--start-layer 2: stage 1 (five 64-channel blocks of ResNet-32) adds instead of AFF;
    --start-layer 4: no attention at all (the plain host)."""
    full = param_counts(resolved_model('cifar_aff_resnet32'))[1]
    later = resolved_model('cifar_aff_resnet32', start_layer=2)
    assert full - param_counts(later)[1] == 5 * _aff_params(64, 4)
    assert [type(b.attention).__name__ for b in (later.features[2][4], later.features[3][0])] \
        == ['DirectAddFuse', 'AFF']
    plain = resolved_model('cifar_aff_resnet32', start_layer=4)
    assert param_counts(plain)[1] == _plain_preact_resnet_params([64, 64, 128, 256], 5)
    resnext = resolved_model('cifar_aff_resnext38_32x4d', start_layer=3)
    assert param_counts(resolved_model('cifar_aff_resnext38_32x4d'))[1] - \
        param_counts(resnext)[1] == 4 * (_aff_params(256, 16) + _aff_params(512, 16))


def test_deep_stem_replaces_the_stem_convolution():
    """--deep-stem: conv3x3(C/2)-BN-ReLU-conv3x3(C/2)-BN-ReLU-conv3x3(C) instead of conv3x3(C);
    the ResNeXt host then has its BN-ReLU as before."""
    plain, deep = (resolved_model('cifar_aff_resnet32', deep_stem=d) for d in (False, True))
    extra = 3 * 32 * 9 + 2 * 32 + 32 * 32 * 9 + 2 * 32 + 32 * 64 * 9 - 3 * 64 * 9
    assert param_counts(deep)[1] - param_counts(plain)[1] == extra
    assert [type(l).__name__ for l in deep.features[:9]] == [
        'BatchNorm', 'Conv2D', 'BatchNorm', 'Activation', 'Conv2D', 'BatchNorm', 'Activation',
        'Conv2D', 'HybridSequential']
    plain, deep = (resolved_model('cifar_aff_resnext38_32x4d', deep_stem=d)
                   for d in (False, True))
    assert param_counts(deep)[1] - param_counts(plain)[1] == extra
    assert [type(l).__name__ for l in deep.features[7:10]] == [
        'BatchNorm', 'Activation', 'HybridSequential']


def test_resnext_channel_times_follows_the_originals_groups():
    """--channel-times 8 gives width 128 with 64 groups (the original's rule); others need
    cardinality=."""
    net = gluon_aff.get_model('cifar_aff_resnext38_32x4d', channel_times=8)
    assert net.features[0]._channels == 128
    assert net.features[3][0].body[3]._kwargs['num_group'] == 64
    with pytest.raises(ValueError, match='channel_times=2.*cardinality='):
        gluon_aff.get_model('cifar_aff_resnext38_32x4d', channel_times=2)
    net = gluon_aff.get_model('cifar_aff_resnext38_32x4d', channel_times=2, cardinality=8)
    assert net.features[0]._channels == 32
