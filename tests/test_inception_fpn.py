"""Inception-ResNet-20-b and ResNet-20-b + FPN: shapes for every fusion and b, zoo names, the
same-layer cell against a numpy dilated convolution (which input is X, which is Y), the FPN
merge order, and the export round trip."""
import numpy as np
import pytest
import mxnet as mx

import gluon_aff
from gluon_aff.model_zoo import AFFFPNResNet, CIFARInceptionResNet, InceptionFusionCell
from gluon_aff.nn import FUSIONS

TINY = [8, 8, 16, 32]


@pytest.mark.parametrize('tag', sorted(FUSIONS))
def test_every_fusion_runs_in_both_hosts(tag):
    """Every fusion inside the Inception cells and the FPN merges (b = 1, tiny widths), at an odd
    size: the x2 upsampling is cropped back to the finer level. Depth is checked structurally
    in test_zoo_names_and_depth."""
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (2, 3, 9, 9)))
    net = gluon_aff.get_model('cifar_%s_inception_resnet_b1' % tag, channels=TINY, classes=10)
    net.initialize()
    assert net(x).shape == (2, 10)
    seg = gluon_aff.get_model('fpn_%s_resnet_b1' % tag, channels=TINY)
    seg.initialize()
    assert seg(x).shape == (2, 2, 9, 9)


def test_zoo_names_and_depth():
    names = gluon_aff.get_model_list()
    for tag in FUSIONS:
        for b in (1, 2, 3, 4):
            assert 'cifar_%s_inception_resnet_b%d' % (tag, b) in names
            assert 'fpn_%s_resnet_b%d' % (tag, b) in names
    net = gluon_aff.get_model('cifar_add_inception_resnet_b3')
    assert len(net.features) == 9 and [len(net.features[i]) for i in (2, 3, 4)] == [3, 3, 3]
    seg = gluon_aff.get_model('fpn_aff_resnet_b2')
    assert len(seg.fuse) == 2 and seg.fpn_channels == 64
    with pytest.raises(ValueError, match='upsample'):
        AFFFPNResNet([1, 1, 1], TINY, upsample='cubic')
    with pytest.raises(ValueError, match='two stages'):
        AFFFPNResNet([1], [8, 8])
    with pytest.raises(ValueError, match='dilations'):
        InceptionFusionCell(8, dilations=(1,))


def conv3x3_numpy(x, w, b, dilation):
    """Naive 'same' 3x3 convolution with the given dilation, NCHW."""
    n, c, h, wd = x.shape
    pad = dilation
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(3):
        for j in range(3):
            patch = xp[:, :, i * dilation:i * dilation + h, j * dilation:j * dilation + wd]
            out += np.einsum('nchw,oc->nohw', patch, w[:, :, i, j])
    return out + b[None, :, None, None]


def _neutral_attention(block):
    """Zero every weight/bias of the fusion's attention: every weight becomes sigmoid(0)."""
    for param in block.attention.collect_params().values():
        if param.name.endswith(('weight', 'bias', 'beta', 'running_mean')):
            param.set_data(mx.nd.zeros(param.shape))


def test_cell_fuses_y_dilated_into_first_slot():
    rs = np.random.RandomState(0)
    cell = InceptionFusionCell(4, fusion='ms_se', r=4)    # ms_se: residual + M(x) * x
    cell.initialize()
    x = rs.uniform(-1, 1, (1, 3, 7, 7)).astype(np.float32)
    cell(mx.nd.array(x))
    _neutral_attention(cell)                               # M = 0.5 everywhere
    params = cell._collect_params_with_prefix()
    bn = 1.0 / np.sqrt(1.0 + 1e-5)                         # fresh BN in inference mode
    x3 = conv3x3_numpy(x, params['feature_spatial_3.0.weight'].data().asnumpy(),
                       params['feature_spatial_3.0.bias'].data().asnumpy(), 1) * bn
    x5 = conv3x3_numpy(x, params['feature_spatial_5.0.weight'].data().asnumpy(),
                       params['feature_spatial_5.0.bias'].data().asnumpy(), 2) * bn
    # X (3x3) is the unweighted input, Y (dilated, 5x5 field) the refined one
    np.testing.assert_allclose(cell(mx.nd.array(x)).asnumpy(), x3 + 0.5 * x5, rtol=1e-4,
                               atol=1e-5)


def test_fpn_merge_upsamples_coarse_level_into_first_slot():
    net = AFFFPNResNet([1, 1, 1], TINY, fusion='ms_se')
    net.initialize()
    x = mx.nd.array(np.random.RandomState(1).uniform(-1, 1, (1, 3, 8, 8)))
    net(x)
    for fuse in net.fuse:
        for param in fuse.collect_params().values():
            if param.name.endswith(('weight', 'bias', 'beta', 'running_mean')):
                param.set_data(mx.nd.zeros(param.shape))
    c1, c2, c3 = [c.asnumpy() for c in net.pyramid(mx.nd, x)]
    lat = [net.lateral[k].weight.data().asnumpy()[:, :, 0, 0] for k in (0, 1)]
    up = lambda a: a.repeat(2, axis=2).repeat(2, axis=3)  # noqa: E731 (nearest x2)
    p2 = np.einsum('nchw,oc->nohw', c2, lat[1]) + 0.5 * up(c3)
    p1 = np.einsum('nchw,oc->nohw', c1, lat[0]) + 0.5 * up(p2)
    head = net.head
    expected = head(mx.nd.array(p1)).asnumpy()
    np.testing.assert_allclose(net(x).asnumpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('family', ['inception', 'fpn'])
def test_export_round_trip(tmp_path, family):
    if family == 'inception':
        net = CIFARInceptionResNet([1, 1, 1], TINY, classes=10, fusion='iaff')
    else:
        net = AFFFPNResNet([1, 1, 1], TINY, fusion='iaff', upsample='bilinear')
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(np.random.RandomState(2).uniform(-1, 1, (2, 3, 8, 8)))
    eager = net(x).asnumpy()
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)
    prefix = str(tmp_path / family)
    net.export(prefix)
    loaded = mx.gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data'],
                                          prefix + '-0000.params')
    np.testing.assert_allclose(loaded(x).asnumpy(), eager, rtol=1e-5, atol=1e-6)
