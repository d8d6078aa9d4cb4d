"""Every fusion module against an independent numpy implementation of its formula.

Weights (including BN running statistics) are random; the reference reads them by structural
name and recomputes the original open-aff formula (notes table) in float64 numpy.
"""
import mxnet as mx
import numpy as np
import pytest

from mxnet.gluon import HybridBlock

from gluon_aff.nn import AFF, FUSION_ALIASES, FUSIONS, MSCAM, build_fusion

C, R = 16, 4
EPS = 1e-5


def _randomise(block, seed):
    rs = np.random.RandomState(seed)
    for key, p in block._collect_params_with_prefix().items():
        if key.endswith('running_var') or key.endswith('gamma'):
            v = rs.uniform(0.5, 1.5, p.shape)
        else:
            v = rs.normal(0, 0.5, p.shape)
        p.set_data(mx.nd.array(v))


def _params(block):
    return {k: p.data().asnumpy().astype(np.float64)
            for k, p in block._collect_params_with_prefix().items()}


class Ref(object):
    """numpy layers reading parameters by structural name."""

    def __init__(self, params):
        self.p = params

    def conv(self, name, x):
        w, b = self.p[name + '.weight'][:, :, 0, 0], self.p.get(name + '.bias')
        y = np.einsum('oc,nchw->nohw', w, x)
        return y if b is None else y + b[None, :, None, None]

    def bn(self, name, x):
        g = self.p[name + '.gamma'][None, :, None, None]
        b = self.p[name + '.beta'][None, :, None, None]
        m = self.p[name + '.running_mean'][None, :, None, None]
        v = self.p[name + '.running_var'][None, :, None, None]
        return (x - m) / np.sqrt(v + EPS) * g + b

    @staticmethod
    def gap(x):
        return x.mean(axis=(2, 3), keepdims=True)

    def branch(self, name, x, layout):
        """layout: sequence of 'gap', 'conv', 'bn', 'relu' as laid out in the original."""
        for i, op in enumerate(layout):
            key = '%s.%d' % (name, i)
            if op == 'gap':
                x = self.gap(x)
            elif op == 'conv':
                x = self.conv(key, x)
            elif op == 'bn':
                x = self.bn(key, x)
            elif op == 'relu':
                x = np.maximum(x, 0)
        return x


LOCAL = ('conv', 'bn', 'relu', 'conv', 'bn')
GLOBAL = ('gap',) + LOCAL
sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731


def reference(tag, p, x, y):
    """The original code's formula for fusion ``tag`` (x = branch output, y = residual)."""
    f = Ref(p)
    if tag == 'add':
        return x + y
    if tag == 'concat':
        return f.conv('fuse.1', f.bn('fuse.0', np.concatenate([x, y], axis=1)))
    if tag in ('aff', 'gg', 'll'):
        a = x + y
        la = {'aff': LOCAL, 'gg': GLOBAL, 'll': LOCAL}[tag]
        ga = {'aff': GLOBAL, 'gg': GLOBAL, 'll': LOCAL}[tag]
        w = sig(f.branch('local_att', a, la) + f.branch('global_att', a, ga))
        return 2 * x * w + 2 * y * (1 - w)
    if tag == 'iaff':
        a = x + y
        w1 = sig(f.branch('local_att', a, LOCAL) + f.branch('global_att', a, GLOBAL))
        xi = x * w1 + y * (1 - w1)
        w2 = sig(f.branch('local_att2', xi, LOCAL) + f.branch('global_att2', xi, GLOBAL))
        return x * w2 + y * (1 - w2)
    if tag in ('ms_gau', 'ms_se', 'ms_sa'):
        inp = x + y if tag == 'ms_sa' else x
        w = sig(f.branch('local_att', inp, ('conv', 'bn'))
                + f.branch('global_att', inp, ('gap', 'conv', 'bn')))
        return y + w * x if tag == 'ms_se' else w * y + x
    if tag in ('half_aff', 'concat_aff'):
        a = x + y
        if tag == 'half_aff':
            la, ga = ('conv', 'bn', 'relu'), ('gap', 'conv', 'bn', 'relu')
        else:
            la, ga = LOCAL + ('relu',), GLOBAL + ('relu',)
        l = f.branch('local_att', a, la)
        g = f.branch('global_att', a, ga)
        g = (l + g) - l
        w = sig(f.bn('post.1', f.conv('post.0', np.concatenate([l, g], axis=1))))
        return 2 * x * w + 2 * y * (1 - w)
    if tag == 'recursive_aff':
        a = x + y
        l = f.branch('local_att', a, LOCAL)
        g = f.branch('global_att', a, GLOBAL)
        lg = l + g
        w2 = sig(f.branch('local_att2', lg, LOCAL) + f.branch('global_att2', lg, GLOBAL))
        w = sig(l * w2 + g * (1 - w2))
        return x * w + y * (1 - w)
    raise KeyError(tag)


def _inputs(seed=1, shape=(2, C, 5, 6)):
    rs = np.random.RandomState(seed)
    return rs.normal(0, 1, shape).astype(np.float32), rs.normal(0, 1, shape).astype(np.float32)


def _run(block, x, y, hybridize):
    if hybridize:
        block.hybridize()
    return block(mx.nd.array(x), mx.nd.array(y)).asnumpy()


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybrid'])
@pytest.mark.parametrize('tag', sorted(FUSIONS))
def test_fusion_matches_numpy_formula(tag, hybridize):
    block = build_fusion(tag, C, r=R)
    block.initialize()
    x, y = _inputs()
    block(mx.nd.array(x), mx.nd.array(y))  # resolve deferred shapes
    _randomise(block, seed=7)
    want = reference(tag, _params(block), x.astype(np.float64), y.astype(np.float64))
    got = _run(block, x, y, hybridize)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize('tag', ['aff', 'iaff', 'gg', 'll', 'half_aff', 'concat_aff',
                                 'recursive_aff'])
def test_paper_form_weights_the_identity(tag):
    """Eq. 4: Z = M * X + (1 - M) * Y with X = identity (residual), Y = learned branch, no
    factor 2. It equals the original formula with the inputs swapped and the factor removed."""
    original = build_fusion(tag, C, r=R)
    paper = build_fusion(tag, C, r=R, form='paper')
    x, y = _inputs(seed=3)
    for block in (original, paper):
        block.initialize()
        block(mx.nd.array(x), mx.nd.array(y))
        _randomise(block, seed=11)
    # the original computed on swapped inputs, then the factor 2 divided out where it exists
    factor = 2.0 if tag in ('aff', 'gg', 'll', 'half_aff', 'concat_aff') else 1.0
    swapped = original(mx.nd.array(y), mx.nd.array(x)).asnumpy() / factor
    got = paper(mx.nd.array(x), mx.nd.array(y)).asnumpy()
    np.testing.assert_allclose(got, swapped, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybrid'])
def test_mscam_matches_eq3(hybridize):
    block = MSCAM(C, r=R)
    block.initialize()
    x, _ = _inputs(seed=5)
    block(mx.nd.array(x))
    _randomise(block, seed=13)
    f = Ref(_params(block))
    xd = x.astype(np.float64)
    want = xd * sig(f.branch('local_att', xd, LOCAL) + f.branch('global_att', xd, GLOBAL))
    if hybridize:
        block.hybridize()
    np.testing.assert_allclose(block(mx.nd.array(x)).asnumpy(), want, rtol=1e-5, atol=1e-5)


def test_mscam_keys_and_bottleneck_shapes():
    block = MSCAM(64, r=16)
    block.initialize()
    block(mx.nd.ones((1, 64, 3, 3)))
    shapes = {k: p.shape for k, p in block._collect_params_with_prefix().items()}
    assert shapes['local_att.0.weight'] == (4, 64, 1, 1)
    assert shapes['local_att.0.bias'] == (4,)
    assert shapes['global_att.1.weight'] == (4, 64, 1, 1)
    assert shapes['global_att.4.weight'] == (64, 4, 1, 1)


# ---- bad input ----------------------------------------------------------------------------

def test_channels_not_divisible_by_r():
    with pytest.raises(ValueError, match=r'channels=10 is not divisible by .*r=4'):
        build_fusion('aff', 10, r=4)
    with pytest.raises(ValueError, match='not divisible'):
        MSCAM(30, r=16)


@pytest.mark.parametrize('r', [0, -2, 1.5])
def test_bad_reduction_ratio(r):
    with pytest.raises(ValueError, match='reduction ratio r must be an integer >= 1'):
        build_fusion('iaff', 16, r=r)


def test_unknown_fusion_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown fusion 'afff'.*aff, concat"):
        build_fusion('afff', 16)


def test_unknown_form():
    with pytest.raises(ValueError, match='form must be one of'):
        build_fusion('aff', 16, form='eq4')


def test_mismatched_input_shapes():
    block = build_fusion('aff', 16)
    block.initialize()
    with pytest.raises(ValueError, match=r'same shape, got \(1, 16, 4, 4\) and \(1, 16, 2, 2\)'):
        block(mx.nd.ones((1, 16, 4, 4)), mx.nd.ones((1, 16, 2, 2)))


def test_wrong_channel_count():
    block = build_fusion('iaff', 16)
    block.initialize()
    with pytest.raises(ValueError, match='built for 16 channels'):
        block(mx.nd.ones((1, 8, 4, 4)), mx.nd.ones((1, 8, 4, 4)))
    with pytest.raises(ValueError, match='built for 16 channels'):
        MSCAM(16)(mx.nd.ones((1, 8, 4, 4)))


# The original code's ``askc_type`` names (open-aff model/fusion.py and block.py, paper version
# 806562e and final 0bcfd8a), typed by hand: original name -> (tag, our class).
ORIGINAL_NAMES = {
    'DirectAdd': ('add', 'DirectAddFuse'),
    'Concat': ('concat', 'ConcatFuse'),
    'ASKCFuse': ('aff', 'AFF'),
    'ResGlobLocaforGlobLocaCha': ('iaff', 'iAFF'),
    'ResGlobGlobCha': ('gg', 'GlobalGlobalFuse'),
    'ResLocalLocaCha': ('ll', 'LocalLocalFuse'),      # CIFAR spelling
    'ResLocaLocaCha': ('ll', 'LocalLocalFuse'),       # ImageNet spelling
    'AYforXplusY': ('ms_gau', 'MSGAUFuse'),
    'XplusAYforY': ('ms_se', 'MSSEFuse'),
    'AXYforXplusY': ('ms_sa', 'MSSAFuse'),
    'HalfASKCFuse': ('half_aff', 'HalfAFF'),
    'ConcatASKCFuse': ('concat_aff', 'ConcatAFF'),
    'RASKCFuse': ('recursive_aff', 'RecursiveAFF'),
}


def test_every_original_name_resolves_to_its_fusion():
    assert FUSION_ALIASES == {name: tag for name, (tag, _) in ORIGINAL_NAMES.items()}
    assert sorted(FUSIONS) == sorted({tag for tag, _ in ORIGINAL_NAMES.values()})
    for name, (tag, cls) in ORIGINAL_NAMES.items():
        block = build_fusion(name, 16)
        assert (type(block).__name__, block.tag) == (cls, tag), name
        assert name in type(block).original_names and FUSIONS[tag] is type(block)


class _Gate(HybridBlock):
    """A user fusion knowing nothing of ``r`` or ``form``: ``x * sigmoid(residual)``."""

    def __init__(self, channels, **kwargs):
        super(_Gate, self).__init__(**kwargs)
        self.channels = channels

    def hybrid_forward(self, F, x, residual):
        return x * F.sigmoid(residual)


def test_build_fusion_takes_a_block_class_or_a_callable():
    gate = build_fusion(_Gate, 8, r=4, form='paper')     # r and form not in its signature
    x, y = _inputs(shape=(1, 8, 2, 2))
    np.testing.assert_allclose(gate(mx.nd.array(x), mx.nd.array(y)).asnumpy(),
                               x * sig(y.astype(np.float64)), rtol=1e-6)
    seen = {}

    def factory(channels, r):
        seen.update(channels=channels, r=r)
        return AFF(channels, r=r)
    assert isinstance(build_fusion(factory, 32, r=8), AFF) and seen == dict(channels=32, r=8)
    paper = build_fusion(AFF, 16, r=2, form='paper')      # registered class: every argument
    assert (paper.r, paper.form) == (2, 'paper')
    with pytest.raises(ValueError, match='registered tag.*got 42'):
        build_fusion(42, 16)
    with pytest.raises(ValueError, match='returned int, not a Gluon block'):
        build_fusion(lambda channels: 3, 16)


def test_hosts_accept_a_fusion_class():
    import gluon_aff
    net = gluon_aff.get_model('cifar_aff_resnet_b1', fusion=_Gate, classes=10)
    net.initialize()
    assert net(mx.nd.zeros((2, 3, 8, 8))).shape == (2, 10)
    assert isinstance(net.features[2][0].attention, _Gate)
