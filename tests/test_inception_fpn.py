"""Inception-ResNet-20-b and ResNet-20-b + FPN: shapes for every fusion and b, zoo names, the
same-layer cell against a numpy dilated convolution (which input is X, which is Y), the FPN
merge order in both layouts, parameter counts computed by hand from layer shapes, the draft's
merge block against numpy, and the export round trip."""
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
    for suffix in ('', '_paper'):
        seg = gluon_aff.get_model('fpn_%s_resnet_b1%s' % (tag, suffix), channels=TINY)
        seg.initialize()
        assert seg(x).shape == (2, 2, 9, 9)


def test_zoo_names_and_depth():
    names = gluon_aff.get_model_list()
    for tag in FUSIONS:
        for b in (1, 2, 3, 4):
            assert 'cifar_%s_inception_resnet_b%d' % (tag, b) in names
            assert 'fpn_%s_resnet_b%d' % (tag, b) in names
            assert 'fpn_%s_resnet_b%d_paper' % (tag, b) in names
    net = gluon_aff.get_model('cifar_add_inception_resnet_b3')
    assert len(net.features) == 9 and [len(net.features[i]) for i in (2, 3, 4)] == [3, 3, 3]
    seg = gluon_aff.get_model('fpn_aff_resnet_b2_paper')
    assert len(seg.fuse) == 2 and seg.fpn_channels == 64
    draft = gluon_aff.get_model('fpn_aff_resnet_b2')
    assert (draft.merge, draft.upsample, draft.fpn_channels) == ('draft', 'bilinear', None)
    assert [n for n in ('fuse12', 'fuse23', 'fuse34') if hasattr(draft, n)] == ['fuse12', 'fuse23']
    with pytest.raises(ValueError, match='merge must be one of'):
        AFFFPNResNet([1, 1, 1], TINY, merge='fig3')
    with pytest.raises(ValueError, match="fpn_channels applies to merge='paper'"):
        AFFFPNResNet([1, 1, 1], TINY, fpn_channels=32)
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
    net = AFFFPNResNet([1, 1, 1], TINY, fusion='ms_se', merge='paper')
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


@pytest.mark.parametrize('family', ['inception', 'fpn', 'fpn_paper'])
def test_export_round_trip(tmp_path, family):
    if family == 'inception':
        net = CIFARInceptionResNet([1, 1, 1], TINY, classes=10, fusion='iaff')
    elif family == 'fpn':
        net = AFFFPNResNet([1, 1, 1], TINY, fusion='sk')
    else:
        net = AFFFPNResNet([1, 1, 1], TINY, fusion='iaff', merge='paper', upsample='bilinear')
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


# ---- ResNet-20-b + FPN: parameter counts by hand, from layer shapes --------------------------

def conv(k, cin, cout, bias=True):
    """Parameters of a k x k convolution."""
    return k * k * cin * cout + (cout if bias else 0)


def bn(c):
    """gamma, beta, running mean, running variance."""
    return 4 * c


def bottleneck(c, r):
    """conv1x1(C/r) - BN - ReLU - conv1x1(C) - BN (one MS-CAM branch)."""
    return conv(1, c, c // r) + bn(c // r) + conv(1, c // r, c) + bn(c)


def fusion_params(tag, c, r=4, draft=False):
    """A fusion at width c: every layer of the notes' fusion table (Fig. 7 baselines: the
    paper-version SKFuse/SEFuse/GAUFuse); ``draft``: the long-skip drafts' concatenation has no
    layer of its own (its post conv takes 2C)."""
    single = conv(1, c, c) + bn(c)
    return {'add': 0, 'concat': 0 if draft else bn(2 * c) + conv(1, 2 * c, c),
            'aff': 2 * bottleneck(c, r), 'gg': 2 * bottleneck(c, r), 'll': 2 * bottleneck(c, r),
            'iaff': 4 * bottleneck(c, r), 'recursive_aff': 4 * bottleneck(c, r),
            'ms_gau': 2 * single, 'ms_se': 2 * single, 'ms_sa': 2 * single, 'gau': single,
            'half_aff': 2 * (conv(1, c, c // r) + bn(c // r)) + conv(1, 2 * (c // r), c) + bn(c),
            'concat_aff': 2 * bottleneck(c, r) + conv(1, 2 * c, c) + bn(c),
            'sk': conv(1, c, c // r) + bn(c // r) + conv(1, c // r, 2 * c) + bn(2 * c),
            'se': bottleneck(c, r)}[tag]


def resnet20b_backbone(b, widths=(16, 16, 32, 64)):
    """Stem BN(3) + conv3x3, pre-activation blocks, strided 1x1 shortcut where stride or width
    change (the first block of stages 2 and 3)."""
    total = bn(3) + conv(3, 3, widths[0], bias=False)
    cin = widths[0]
    for stage, width in enumerate(widths[1:]):
        for j in range(b):
            total += bn(cin) + conv(3, cin, width, False) + bn(width) + conv(3, width, width, False)
            if (stage > 0 and j == 0) or cin != width:
                total += conv(1, cin, width, False)
            cin = width
    return total


def fpn_params(tag, b, merge, widths=(16, 16, 32, 64), classes=2):
    levels = widths[1:]
    total = resnet20b_backbone(b, widths)
    if merge == 'draft':   # feature_high conv1x1(bias)-BN, fusion, post conv3x3(bias)-BN per level
        for low, high in zip(levels[:-1], levels[1:]):
            total += conv(1, high, low) + bn(low) + fusion_params(tag, low, draft=True)
            total += conv(3, 2 * low if tag == 'concat' else low, low) + bn(low)
        inter = levels[0] // 4  # _FCNHead: conv3x3(C/4, no bias) - BN - ReLU - Dropout - conv1x1
        return total + conv(3, levels[0], inter, False) + bn(inter) + conv(1, inter, classes)
    top = levels[-1]       # bias-free 1x1 laterals expand to the top width, head BN-ReLU-conv1x1
    total += sum(conv(1, w, top, False) for w in levels if w != top)
    total += (len(levels) - 1) * fusion_params(tag, top)
    return total + bn(top) + conv(1, top, classes)


def _count(net, size=8):
    net.initialize()
    net(mx.nd.zeros((1, 3, size, size)))
    return sum(p.data().size for p in net._collect_params_with_prefix().values())


@pytest.mark.parametrize('merge', ['draft', 'paper'])
@pytest.mark.parametrize('tag', sorted(FUSIONS))
def test_fpn_parameter_count_by_hand(tag, merge):
    suffix = '' if merge == 'draft' else '_paper'
    assert _count(gluon_aff.get_model('fpn_%s_resnet_b1%s' % (tag, suffix))) == \
        fpn_params(tag, 1, merge)


@pytest.mark.parametrize('merge', ['draft', 'paper'])
def test_fpn_parameter_count_by_hand_deeper(merge):
    suffix = '' if merge == 'draft' else '_paper'
    for tag, b in (('aff', 3), ('iaff', 2)):
        assert _count(gluon_aff.get_model('fpn_%s_resnet_b%d%s' % (tag, b, suffix))) == \
            fpn_params(tag, b, merge)


# the drafts' structural names and shapes, typed from open-aff 806562e model/atac/fusion.py
# (LocalGlobalChaFuse_Reduce, SKFuse_Reduce, ConcatFuse_Reduce, GAUChaFuse_Reduce) at the
# merge of level 1 (C = 16) with level 2 (32 channels), and GluonCV's _FCNHead(16, 2)
MERGE_OUTER = {'feature_high.0.weight': (16, 32, 1, 1), 'feature_high.0.bias': (16,),
               'feature_high.1.gamma': (16,), 'post.0.weight': (16, 16, 3, 3),
               'post.0.bias': (16,), 'post.1.gamma': (16,)}


def _branch_keys(name, shapes):
    """``{name.i.weight/bias/gamma}`` of a branch: ``shapes`` = [(index, out, in, bn index)]."""
    keys = {}
    for conv, out, inp, norm in shapes:
        keys.update({'%s.%d.weight' % (name, conv): (out, inp, 1, 1),
                     '%s.%d.bias' % (name, conv): (out,), '%s.%d.gamma' % (name, norm): (out,)})
    return keys


DRAFT_KEYS = {
    'aff': dict(MERGE_OUTER, **_branch_keys('local_att', [(0, 4, 16, 1), (3, 16, 4, 4)]),
                **_branch_keys('global_att', [(1, 4, 16, 2), (4, 16, 4, 5)])),
    'sk': dict(MERGE_OUTER, **_branch_keys('attention', [(1, 4, 16, 2), (4, 32, 4, 5)])),
    'concat': dict(MERGE_OUTER, **{'post.0.weight': (16, 32, 3, 3)}),
    'gau': dict(MERGE_OUTER, **_branch_keys('global_att', [(1, 16, 16, 2)])),
}
FCN_HEAD = {'head.block.0.weight': (4, 16, 3, 3), 'head.block.1.gamma': (4,),
            'head.block.4.weight': (2, 4, 1, 1), 'head.block.4.bias': (2,)}


@pytest.mark.parametrize('tag', sorted(DRAFT_KEYS))
def test_draft_merge_has_the_drafts_names(tag, tmp_path):
    net = gluon_aff.get_model('fpn_%s_resnet_b1' % tag)
    net.initialize()
    net(mx.nd.zeros((1, 3, 8, 8)))
    params = net._collect_params_with_prefix()
    weights = {k[len('fuse12.'):]: p.shape for k, p in params.items()
               if k.startswith('fuse12.') and k.endswith(('weight', 'bias', 'gamma'))}
    assert weights == DRAFT_KEYS[tag]
    assert {k: p.shape for k, p in params.items() if k.startswith('head.') and
            k.endswith(('weight', 'bias', 'gamma'))} == FCN_HEAD
    # the keys are the checkpoint: a saved net loads into a fresh one by name
    again = gluon_aff.get_model('fpn_%s_resnet_b1' % tag)
    path = str(tmp_path / 'n.params')
    net.save_parameters(path)
    again.load_parameters(path)
    x = mx.nd.array(np.random.RandomState(3).uniform(-1, 1, (1, 3, 8, 8)))
    np.testing.assert_allclose(again(x).asnumpy(), net(x).asnumpy(), rtol=1e-6)


def _bn_numpy(x, p, name, eps=1e-5):
    return ((x - p[name + '.running_mean'][None, :, None, None])
            / np.sqrt(p[name + '.running_var'][None, :, None, None] + eps)
            * p[name + '.gamma'][None, :, None, None] + p[name + '.beta'][None, :, None, None])


def _conv1x1_numpy(x, p, name):
    return np.einsum('oc,nchw->nohw', p[name + '.weight'][:, :, 0, 0], x) + \
        p[name + '.bias'][None, :, None, None]


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybrid'])
def test_draft_aff_merge_matches_numpy(hybridize):
    """``LocalGlobalChaFuse_Reduce``: xh' = ReLU(BN(conv1x1(xh))), w = sigmoid(L(xh' + xl) +
    G(xh' + xl)), out = ReLU(BN(conv3x3(2 xh' w + 2 xl (1 - w)))), float64 numpy."""
    from gluon_aff.model_zoo import LongSkipMerge
    rs = np.random.RandomState(0)
    xh = rs.normal(0, 1, (2, 12, 5, 6)).astype(np.float32)
    xl = rs.normal(0, 1, (2, 8, 5, 6)).astype(np.float32)
    merge = LongSkipMerge('aff', 8, r=4)
    merge.initialize()
    merge(mx.nd.array(xh), mx.nd.array(xl))
    for key, param in sorted(merge._collect_params_with_prefix().items()):
        low, high = (0.5, 1.5) if key.endswith(('running_var', 'gamma')) else (-0.5, 0.5)
        param.set_data(mx.nd.array(rs.uniform(low, high, param.shape)))
    p = {k: v.data().asnumpy().astype(np.float64)
         for k, v in merge._collect_params_with_prefix().items()}
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731

    def branch(name, z, pooled):
        z = z.mean(axis=(2, 3), keepdims=True) if pooled else z
        i = 1 if pooled else 0
        z = relu(_bn_numpy(_conv1x1_numpy(z, p, '%s.%d' % (name, i)), p, '%s.%d' % (name, i + 1)))
        return _bn_numpy(_conv1x1_numpy(z, p, '%s.%d' % (name, i + 3)), p, '%s.%d' % (name, i + 4))
    h = relu(_bn_numpy(_conv1x1_numpy(xh.astype(np.float64), p, 'feature_high.0'), p,
                       'feature_high.1'))
    low = xl.astype(np.float64)
    w = sig(branch('local_att', h + low, False) + branch('global_att', h + low, True))
    z = 2 * h * w + 2 * low * (1 - w)
    want = relu(_bn_numpy(conv3x3_numpy(z, p['post.0.weight'], p['post.0.bias'], 1), p,
                          'post.1'))
    if hybridize:
        merge.hybridize()
    got = merge(mx.nd.array(xh), mx.nd.array(xl)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def bilinear_aligned_numpy(x, height, width):
    """Bilinear resize with aligned corners (the drafts' ``BilinearResize2D`` call), NCHW."""
    def axis_weights(n_in, n_out):
        pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        lo = np.minimum(np.floor(pos).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), lo] += 1 - (pos - lo)
        m[np.arange(n_out), hi] += pos - lo
        return m
    rows, cols = axis_weights(x.shape[2], height), axis_weights(x.shape[3], width)
    return np.einsum('ih,nchw,jw->ncij', rows, x, cols)


def test_draft_fpn_wiring():
    """fuse23(up(C3), C2), then fuse12(up(.), C1), bilinear with aligned corners to the finer
    level's (odd) size, then the FCN head; each block is checked on its own elsewhere."""
    net = AFFFPNResNet([1, 1, 1], TINY, fusion='ms_sa')
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(np.random.RandomState(4).uniform(-1, 1, (2, 3, 9, 7)))
    got = net(x).asnumpy()
    c1, c2, c3 = net.pyramid(mx.nd, x)
    up = lambda y, like: mx.nd.array(bilinear_aligned_numpy(  # noqa: E731
        y.asnumpy().astype(np.float64), like.shape[2], like.shape[3]))
    p2 = net.fuse23(up(c3, c2), c2)
    want = net.head(net.fuse12(up(p2, c1), c1)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# ---- Inception cell: the true 5x5 Y, the draft's form, the draft's narrow first cells -------

def conv_numpy(x, w, b, dilation=1):
    """Naive 'same' k x k convolution (odd k) with the given dilation, NCHW."""
    k = w.shape[2]
    pad = dilation * (k - 1) // 2
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i * dilation:i * dilation + h, j * dilation:j * dilation + wd]
            out += np.einsum('nchw,oc->nohw', patch, w[:, :, i, j])
    return out + b[None, :, None, None]


@pytest.mark.parametrize('kernels, dilations', [((3, 3), (1, 2)), ((3, 5), (1, 1))],
                         ids=['dilated', 'true5x5'])
def test_cell_default_form_is_the_drafts(kernels, dilations):
    """With neutral attention (w = 0.5) the default cell gives 0.5 * x3 + 0.5 * x5: the atac
    cells' ``x3 * w + x5 * (1 - w)``, no factor 2; ``form='original'`` doubles it."""
    rs = np.random.RandomState(5)
    x = rs.uniform(-1, 1, (1, 3, 7, 7)).astype(np.float32)
    outs = {}
    for form in ('paper', 'original'):
        kwargs = {} if form == 'paper' else {'form': 'original'}
        cell = InceptionFusionCell(4, fusion='aff', kernel_sizes=kernels, dilations=dilations,
                                   **kwargs)
        cell.initialize()
        cell(mx.nd.array(x))
        for param in cell.attention.collect_params().values():   # w = sigmoid(0) everywhere
            if param.name.endswith(('weight', 'bias', 'beta', 'running_mean')):
                param.set_data(mx.nd.zeros(param.shape))
        params = cell._collect_params_with_prefix()
        assert params['feature_spatial_5.0.weight'].shape == (4, 3, kernels[1], kernels[1])
        bn_scale = 1.0 / np.sqrt(1.0 + 1e-5)
        x3, x5 = [conv_numpy(x, params['%s.0.weight' % n].data().asnumpy(),
                             params['%s.0.bias' % n].data().asnumpy(), d) * bn_scale
                  for n, d in zip(('feature_spatial_3', 'feature_spatial_5'), dilations)]
        outs[form] = cell(mx.nd.array(x)).asnumpy()
        np.testing.assert_allclose(outs[form], (0.5 if form == 'paper' else 1.0) * (x3 + x5),
                                   rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match='kernel_sizes must be two odd integers'):
        InceptionFusionCell(4, kernel_sizes=(3, 4))


def test_narrow_first_cells_as_the_draft():
    """``narrow_first``: every block's first cell outputs the stage's input width (the atac
    ``ResBlockV2DyReF`` builds ``conv1`` with ``channels=in_channels``); shapes by hand."""
    net = CIFARInceptionResNet([2, 2, 2], [16, 16, 32, 64], classes=10, fusion='add',
                               narrow_first=True)
    net.initialize()
    net(mx.nd.zeros((1, 3, 8, 8)))
    p = net._collect_params_with_prefix()
    # features.3 = stage 2 (input 16, width 32); resfwd.2 / resfwd.5 = first / second cell
    for block in (0, 1):
        assert p['features.3.%d.resfwd.2.feature_spatial_3.0.weight' % block].shape == \
            ((16, 16, 3, 3) if block == 0 else (16, 32, 3, 3))
        assert p['features.3.%d.resfwd.5.feature_spatial_5.0.weight' % block].shape == \
            (32, 16, 3, 3)
    assert p['features.3.0.downsample.weight'].shape == (32, 16, 1, 1)
    assert p['features.4.1.resfwd.2.feature_spatial_3.0.weight'].shape == (32, 64, 3, 3)
    wide = CIFARInceptionResNet([2, 2, 2], [16, 16, 32, 64], classes=10, fusion='add')
    wide.initialize()
    wide(mx.nd.zeros((1, 3, 8, 8)))
    assert wide._collect_params_with_prefix()[
        'features.4.1.resfwd.2.feature_spatial_3.0.weight'].shape == (64, 64, 3, 3)


def test_fig7_baselines_in_their_scenarios():
    """SENet in the short skip (Fig. 7b), SKNet in the same-layer cell (7a, the draft's SKConv
    form: no factor 2), GAU in the long-skip merges (7c)."""
    from gluon_aff.nn import GAUFuse, SEFuse, SKFuse
    x = mx.nd.zeros((1, 3, 8, 8))
    se = gluon_aff.get_model('cifar_se_resnet_b1', channels=TINY, classes=10)
    sk = gluon_aff.get_model('cifar_sk_inception_resnet_b1', channels=TINY, classes=10)
    gau = gluon_aff.get_model('fpn_gau_resnet_b1', channels=TINY)
    for net in (se, sk, gau):
        net.initialize()
        assert net(x).shape[:2] == ((1, 2) if net is gau else (1, 10))
    assert isinstance(se.features[2][0].attention, SEFuse)
    assert isinstance(sk.features[1].attention, SKFuse) and sk.features[1].attention.form == \
        'paper'
    assert isinstance(gau.fuse12.fusion, GAUFuse)
