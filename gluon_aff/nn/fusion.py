"""Feature fusion modules of *Attentional Feature Fusion* (Dai et al., WACV 2021).

Every fusion is a :class:`~mxnet.gluon.HybridBlock` called as ``fuse(x, residual)`` where, in a
residual block, ``x`` is the output of the block's learned branch and ``residual`` is the
shortcut (identity or projection). This is the argument order of the original open-aff code,
so checkpoints of the original load unchanged (the attribute names below are its names).

The multi-scale channel attention module (MS-CAM, paper Sec. 3.2, Eq. 2-3) computes

    M(X) = sigmoid(L(X) + g(X)),    L = BN(PWConv(ReLU(BN(PWConv(X)))))   (local branch)
                                    g = the same bottleneck after global average pooling

with 1x1 convolutions **with bias** (as in the original code). AFF (Eq. 4) and iAFF (Eq. 5)
select between the two inputs with these weights. See ``docs/faithfulness.md`` for where the
original code and the paper differ (factor 2 in AFF, which input the weight multiplies).

All fusions are registered under the tags of the paper's ablations (:data:`FUSIONS`); hosts
build them through :func:`build_fusion`.
"""
from __future__ import division

import inspect

from mxnet.gluon import nn
from mxnet.gluon.block import Block, HybridBlock

__all__ = ['MSCAM', 'DirectAddFuse', 'ConcatFuse', 'AFF', 'iAFF', 'GlobalGlobalFuse',
           'LocalLocalFuse', 'MSGAUFuse', 'MSSEFuse', 'MSSAFuse', 'HalfAFF', 'ConcatAFF',
           'RecursiveAFF', 'SKFuse', 'SEFuse', 'GAUFuse', 'FUSIONS', 'FUSION_ALIASES',
           'R_PRESETS', 'DEFAULT_R', 'register_fusion', 'build_fusion', 'resolve_fusion',
           'reduction_ratio', 'check_reduction', 'context_branch', 'LONG_SKIP_VARIANTS']

FORMS = ('original', 'paper')

#: registry tag -> fusion class (the tags of the paper's Tables 3, 4 and 6), filled by
#: :func:`register_fusion` next to each class
FUSIONS = {}

#: the original code's ``askc_type`` names -> registry tags, filled by :func:`register_fusion`
FUSION_ALIASES = {}


def register_fusion(tag, *original_names):
    """Class decorator: register a fusion under ``tag`` and the original code's names.

    The class must accept ``(channels, r=..., form=...)`` and be called as ``fuse(x, residual)``.
    It gets the attributes ``tag`` and ``original_names``; :func:`build_fusion` then builds it
    from the tag or from any of the original ``askc_type`` names.
    """
    def register(cls):
        for key in (tag,) + original_names:
            if key in FUSIONS or key in FUSION_ALIASES:
                raise ValueError('fusion name %r is already registered' % (key,))
        cls.tag, cls.original_names = tag, tuple(original_names)
        FUSIONS[tag] = cls
        FUSION_ALIASES.update((name, tag) for name in original_names)
        return cls
    return register


def check_reduction(channels, r):
    """Validate a channel count and reduction ratio; return ``channels // r``."""
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise ValueError('reduction ratio r must be an integer >= 1, got r=%r' % (r,))
    if not isinstance(channels, int) or channels < 1:
        raise ValueError('channels must be a positive integer, got channels=%r' % (channels,))
    if channels % r:
        raise ValueError('channels=%d is not divisible by the reduction ratio r=%d'
                         % (channels, r))
    return channels // r


def context_branch(channels, inter_channels, pooled, full=True, final_relu=False, reduce=True):
    """One context aggregation branch of MS-CAM, laid out as in the original code.

    ``[GAP] - conv1x1(C/r) - BN - ReLU - conv1x1(C) - BN [- ReLU]``.

    Parameters
    ----------
    channels : int
        Output channels C.
    inter_channels : int
        Bottleneck channels C/r.
    pooled : bool
        Start with global average pooling (global context) or not (local, point-wise context).
    full : bool, default True
        Keep the second convolution; False stops after ``conv(C/r)-BN-ReLU`` (Half-AFF).
    final_relu : bool, default False
        Append a ReLU after the last BN (Concat-AFF).
    reduce : bool, default True
        False gives the single ``conv1x1(C) - BN`` of the MS-GAU/MS-SE/MS-SA baselines.
    """
    branch = nn.HybridSequential(prefix='')
    if pooled:
        branch.add(nn.GlobalAvgPool2D())
    if not reduce:
        branch.add(nn.Conv2D(channels, kernel_size=1))
        branch.add(nn.BatchNorm())
        return branch
    branch.add(nn.Conv2D(inter_channels, kernel_size=1))
    branch.add(nn.BatchNorm())
    branch.add(nn.Activation('relu'))
    if full:
        branch.add(nn.Conv2D(channels, kernel_size=1))
        branch.add(nn.BatchNorm())
        if final_relu:
            branch.add(nn.Activation('relu'))
    return branch


def _flat(F, x):
    """``(N, C, H, W) -> (N, C, H*W)``: the view on which the fusions do their element-wise work.

    On CPU, MXNet 1.9 keeps the 4-d outputs of its MKLDNN operators (convolution, BN,
    activation, sum) in blocked layouts (nChw16c, NHWC); every other operator (products, scalar
    and broadcast arithmetic) converts such inputs to NCHW and, when its output buffer last held
    a blocked array, converts the result back: two copies per operand and private buffers that
    static allocation keeps alive. 3-d arrays are always NCHW, so on these views the arithmetic
    runs without any conversion (``docs/performance.md`` has the profile). The values are the
    same; only the layout changes.
    """
    return F.reshape(x, shape=(0, 0, -1))


def _flat_sum(F, x, residual):
    """``(flat x, flat residual, x + residual)``: the sum is computed on the flat views and given
    back as an NCHW array, which is what the attention reads. Read in MKLDNN's blocked layout
    instead, the gradient of the global pooling falls back to oneDNN's reference kernel on some
    shapes (CIFAR stages: 100-170 ms instead of 1-2 ms per call; ``docs/performance.md``)."""
    flat_x, flat_r = _flat(F, x), _flat(F, residual)
    return flat_x, flat_r, F.reshape_like(flat_x + flat_r, x)


def _spread(F, pooled, like):
    """``pooled`` ``(N, C, 1)`` repeated along the last axis of ``like`` ``(N, C, L)``.

    Computed as ``batch_dot(pooled, ones(N, 1, L))``: the same values as a broadcast (products
    by one are exact), but its gradient is a matrix product, where the gradient of MXNet's
    broadcast operators is a generic reduction about ten times slower on CPU.
    """
    ones = F.BlockGrad(F.ones_like(F.slice_axis(like, axis=1, begin=0, end=1)))
    return F.batch_dot(pooled, ones)


def _weights(F, local, global_, pooled=(False, True)):
    """``sigmoid(local + global_)`` as an ``(N, C, H*W)`` array, ``(N, C, 1)`` when both contexts
    are pooled; ``pooled`` says which of the two are ``(N, C, 1, 1)``: (local, global) =
    (False, True) in MS-CAM, (True, True) in Global + Global, (False, False) in Local + Local.
    ``Activation`` rather than ``F.sigmoid``: only the former has an MKLDNN kernel."""
    local, global_ = _flat(F, local), _flat(F, global_)
    if tuple(pooled) == (False, True):
        global_ = _spread(F, global_, local)
    return F.Activation(local + global_, act_type='sigmoid')


class _Fusion(HybridBlock):
    """Base class: argument validation and the soft selection shared by the AFF family.

    ``_FACTOR``: what the ``original`` form multiplies the selection by (2 in the original's
    AFF-style fusions, 1 in iAFF); the ``paper`` form never scales.
    """
    _FACTOR = 1

    def __init__(self, channels=64, r=4, form='original', **kwargs):
        super(_Fusion, self).__init__(**kwargs)
        self.channels = channels
        self.r = r
        self.inter_channels = check_reduction(channels, r)
        if form not in FORMS:
            raise ValueError('form must be one of %s, got %r' % (FORMS, form))
        self.form = form

    def __call__(self, x, residual):
        shape_x, shape_r = getattr(x, 'shape', None), getattr(residual, 'shape', None)
        if shape_x is not None and shape_r is not None:  # NDArray inputs (symbols have none)
            if shape_x != shape_r:
                raise ValueError('%s: the two inputs must have the same shape, got %s and %s'
                                 % (type(self).__name__, shape_x, shape_r))
            if len(shape_x) != 4 or shape_x[1] != self.channels:
                raise ValueError('%s built for %d channels expects NCHW inputs with %d channels,'
                                 ' got shape %s' % (type(self).__name__, self.channels,
                                                    self.channels, shape_x))
        return super(_Fusion, self).__call__(x, residual)

    def scale(self, out):
        """``out`` times ``_FACTOR`` in the ``original`` form; unchanged in the ``paper`` form."""
        factor = self._FACTOR if self.form == 'original' else 1
        return out * factor if factor != 1 else out

    def select(self, F, x, residual, wei):
        """Soft selection between the inputs with weights ``wei``.

        ``original``: ``_FACTOR * (x * wei + residual * (1 - wei))`` (x = learned branch);
        ``paper`` (Eq. 4): ``residual * wei + x * (1 - wei)`` (identity X weighted by M).
        The arithmetic is the original's term for term, so outputs match checkpoints of the
        original bit for bit; only the factor 2 is applied once to the sum, which is exact in
        floating point (scaling by a power of two commutes with rounding) and saves an
        operation. Callers pass the ``(N, C, H*W)`` views of :func:`_flat`.
        """
        if self.form == 'paper':
            x, residual = residual, x
        return self.scale(x * wei + residual * (1 - wei))

    def __repr__(self):
        return '%s(channels=%d, r=%d, form=%r)' % (type(self).__name__, self.channels, self.r,
                                                   self.form)


class MSCAM(_Fusion):
    """Multi-scale channel attention module, paper Eq. 3: ``X * sigmoid(L(X) + g(X))``.

    A single-input block (``msc(x)``) for use as a drop-in channel attention.

    Parameters
    ----------
    channels : int
        Number of input channels C.
    r : int, default 4
        Channel reduction ratio of both bottlenecks.
    return_weights : bool, default False
        Return ``M(X)`` instead of ``X * M(X)``.
    """

    def __init__(self, channels=64, r=4, return_weights=False, **kwargs):
        super(MSCAM, self).__init__(channels, r, **kwargs)
        self.return_weights = return_weights
        with self.name_scope():
            self.local_att = context_branch(channels, self.inter_channels, pooled=False)
            self.global_att = context_branch(channels, self.inter_channels, pooled=True)

    def __call__(self, x):  # pylint: disable=arguments-differ
        shape = getattr(x, 'shape', None)
        if shape is not None and (len(shape) != 4 or shape[1] != self.channels):
            raise ValueError('MSCAM built for %d channels expects NCHW input with %d channels,'
                             ' got shape %s' % (self.channels, self.channels, shape))
        return HybridBlock.__call__(self, x)

    def hybrid_forward(self, F, x):  # pylint: disable=arguments-differ
        wei = _weights(F, self.local_att(x), self.global_att(x))
        return F.reshape_like(wei if self.return_weights else _flat(F, x) * wei, x)


@register_fusion('add', 'DirectAdd')
class DirectAddFuse(HybridBlock):
    """Addition, ``x + residual`` (tag ``add``; original ``DirectAddFuse``)."""

    def __init__(self, channels=None, r=None, form='original', **kwargs):
        super(DirectAddFuse, self).__init__(**kwargs)
        self.channels = channels
        self.form = form

    def hybrid_forward(self, F, x, residual):
        return x + residual


@register_fusion('concat', 'Concat')
class ConcatFuse(_Fusion):
    """Concatenation, ``conv1x1(BN(concat[x, residual]))`` (tag ``concat``; original ``Concat``).

    The convolution has a bias, as in the original; ``r`` is unused.
    """

    def __init__(self, channels=64, r=1, **kwargs):
        super(ConcatFuse, self).__init__(channels, 1, **kwargs)
        with self.name_scope():
            self.fuse = nn.HybridSequential(prefix='')
            self.fuse.add(nn.BatchNorm())
            self.fuse.add(nn.Conv2D(channels, kernel_size=1))

    def hybrid_forward(self, F, x, residual):
        return self.fuse(F.concat(x, residual, dim=1))


class _TwoBranchFusion(_Fusion):
    """``w = sigmoid(A(x + residual) + B(x + residual))`` then soft selection (factor 2).

    Subclasses choose whether each branch pools globally (``_POOLED``).
    """
    _POOLED = (False, True)  # (local_att, global_att)
    _FACTOR = 2

    def __init__(self, channels=64, r=4, **kwargs):
        super(_TwoBranchFusion, self).__init__(channels, r, **kwargs)
        pooled_a, pooled_b = self._POOLED
        with self.name_scope():
            self.local_att = context_branch(channels, self.inter_channels, pooled=pooled_a)
            self.global_att = context_branch(channels, self.inter_channels, pooled=pooled_b)

    def hybrid_forward(self, F, x, residual):
        flat_x, flat_r, xa = _flat_sum(F, x, residual)
        wei = _weights(F, self.local_att(xa), self.global_att(xa), self._POOLED)
        if self._POOLED == (True, True):  # both (N, C, 1): bring back to full size
            wei = _spread(F, wei, flat_x)
        return F.reshape_like(self.select(F, flat_x, flat_r, wei), x)


@register_fusion('aff', 'ASKCFuse')
class AFF(_TwoBranchFusion):
    """Attentional feature fusion, paper Eq. 4 (tag ``aff``; original ``ASKCFuse``).

    ``original`` form (default): ``2 * x * M + 2 * residual * (1 - M)``, M = MS-CAM(x + residual).
    ``paper`` form: ``M * residual + (1 - M) * x`` (M weights the identity X, no factor 2).

    Parameters
    ----------
    channels : int
        Channels C of both inputs.
    r : int, default 4
        Channel reduction ratio (16 in the ImageNet and ResNeXt hosts).
    form : {'original', 'paper'}
        Which convention to compute.
    """


@register_fusion('gg', 'ResGlobGlobCha')
class GlobalGlobalFuse(_TwoBranchFusion):
    """Ablation "Global + Global" (Fig. 4, Table 3; tag ``gg``; original ``ResGlobGlobCha``)."""
    _POOLED = (True, True)


@register_fusion('ll', 'ResLocalLocaCha', 'ResLocaLocaCha')
class LocalLocalFuse(_TwoBranchFusion):
    """Ablation "Local + Local" (Fig. 4, Table 3; tag ``ll``; original ``ResLocaLocaCha``)."""
    _POOLED = (False, False)


class _TwoStageFusion(_Fusion):
    """Two MS-CAMs: ``local_att``/``global_att`` and ``local_att2``/``global_att2``."""

    def __init__(self, channels=64, r=4, **kwargs):
        super(_TwoStageFusion, self).__init__(channels, r, **kwargs)
        c, ci = channels, self.inter_channels
        with self.name_scope():
            self.local_att = context_branch(c, ci, pooled=False)
            self.global_att = context_branch(c, ci, pooled=True)
            self.local_att2 = context_branch(c, ci, pooled=False)
            self.global_att2 = context_branch(c, ci, pooled=True)


@register_fusion('iaff', 'ResGlobLocaforGlobLocaCha')
class iAFF(_TwoStageFusion):  # pylint: disable=invalid-name
    """Iterative attentional feature fusion, paper Eq. 5 (tag ``iaff``).

    ``w1 = M1(x + residual)``, ``xi = x*w1 + residual*(1-w1)``, ``w2 = M2(xi)``,
    ``out = x*w2 + residual*(1-w2)``; no factor 2 (original ``ResGlobLocaforGlobLocaCha``).
    The ``paper`` form swaps the roles of the two inputs in both selections.
    """

    def hybrid_forward(self, F, x, residual):
        flat_x, flat_r, xa = _flat_sum(F, x, residual)
        wei = _weights(F, self.local_att(xa), self.global_att(xa))
        xi = F.reshape_like(self.select(F, flat_x, flat_r, wei), x)
        wei2 = _weights(F, self.local_att2(xi), self.global_att2(xi))
        return F.reshape_like(self.select(F, flat_x, flat_r, wei2), x)


class _PartialAttentionFusion(_Fusion):
    """MS-CAM baselines of Table 4 with one ``conv1x1(C)-BN`` per branch (no reduction).

    ``_INPUT``: what the weights see (``'x'`` or ``'sum'``); ``_WEIGHTED``: which input they
    multiply; the other input is added unweighted.
    """
    _INPUT = 'x'
    _WEIGHTED = 'residual'

    def __init__(self, channels=64, r=1, **kwargs):
        super(_PartialAttentionFusion, self).__init__(channels, 1, **kwargs)
        with self.name_scope():
            self.local_att = context_branch(channels, channels, pooled=False, reduce=False)
            self.global_att = context_branch(channels, channels, pooled=True, reduce=False)

    def hybrid_forward(self, F, x, residual):
        flat_x, flat_r = _flat(F, x), _flat(F, residual)  # NCHW input: see _flat_sum
        xi = F.reshape_like(flat_x if self._INPUT == 'x' else flat_x + flat_r, x)
        wei = _weights(F, self.local_att(xi), self.global_att(xi))
        out = wei * flat_r + flat_x if self._WEIGHTED == 'residual' else flat_r + wei * flat_x
        return F.reshape_like(out, x)


@register_fusion('ms_gau', 'AYforXplusY')
class MSGAUFuse(_PartialAttentionFusion):
    """MS-GAU (modulation, partially context aware): ``M(x) * residual + x`` (tag ``ms_gau``)."""


@register_fusion('ms_se', 'XplusAYforY')
class MSSEFuse(_PartialAttentionFusion):
    """MS-SENet (refinement): ``residual + M(x) * x`` (tag ``ms_se``)."""
    _WEIGHTED = 'x'


@register_fusion('ms_sa', 'AXYforXplusY')
class MSSAFuse(_PartialAttentionFusion):
    """MS-SA (modulation, fully context aware): ``M(x + residual) * residual + x`` (``ms_sa``)."""
    _INPUT = 'sum'


class _ConcatContextFusion(_Fusion):
    """Table 6 variants that join local and global contexts by concatenation + ``post`` conv.

    ``w = post(concat[l, g])`` with ``post = conv1x1(C)-BN-sigmoid``; output as AFF (factor 2).
    """
    _FULL = False
    _FINAL_RELU = False
    _FACTOR = 2

    def __init__(self, channels=64, r=4, **kwargs):
        super(_ConcatContextFusion, self).__init__(channels, r, **kwargs)
        c, ci = channels, self.inter_channels
        with self.name_scope():
            self.local_att = context_branch(c, ci, pooled=False, full=self._FULL,
                                            final_relu=self._FINAL_RELU)
            self.global_att = context_branch(c, ci, pooled=True, full=self._FULL,
                                             final_relu=self._FINAL_RELU)
            self.post = nn.HybridSequential(prefix='')
            self.post.add(nn.Conv2D(channels, kernel_size=1))
            self.post.add(nn.BatchNorm())
            self.post.add(nn.Activation('sigmoid'))

    def hybrid_forward(self, F, x, residual):
        flat_x, flat_r, xa = _flat_sum(F, x, residual)
        xl = self.local_att(xa)
        # the original spreads g over the map as (l + g) - l; broadcast_like is the exact value
        xg = F.broadcast_like(self.global_att(xa), xl)
        wei = _flat(F, self.post(F.concat(xl, xg, dim=1)))
        return F.reshape_like(self.select(F, flat_x, flat_r, wei), x)


@register_fusion('half_aff', 'HalfASKCFuse')
class HalfAFF(_ConcatContextFusion):
    """Half-AFF (Fig. 9(a), Table 6; tag ``half_aff``; original ``HalfASKCFuse``)."""


@register_fusion('concat_aff', 'ConcatASKCFuse')
class ConcatAFF(_ConcatContextFusion):
    """Concat-AFF (Fig. 9(c), Table 6; tag ``concat_aff``; original ``ConcatASKCFuse``)."""
    _FULL = True
    _FINAL_RELU = True


@register_fusion('recursive_aff', 'RASKCFuse')
class RecursiveAFF(_TwoStageFusion):
    """Recursive AFF (Fig. 9(d), Table 6; tag ``recursive_aff``; original ``RASKCFuse``).

    ``l, g`` = local and global contexts of ``x + residual``; ``w2 = M2(l + g)``;
    ``w = sigmoid(l * w2 + g * (1 - w2))``; ``out = x * w + residual * (1 - w)`` (no factor 2).
    """

    def hybrid_forward(self, F, x, residual):
        flat_x, flat_r, xa = _flat_sum(F, x, residual)
        xl = _flat(F, self.local_att(xa))
        xg = _spread(F, _flat(F, self.global_att(xa)), xl)
        xlg = F.reshape_like(xl + xg, x)
        wei2 = _weights(F, self.local_att2(xlg), self.global_att2(xlg))
        wei = F.Activation(xl * wei2 + xg * (1 - wei2), act_type='sigmoid')
        return F.reshape_like(self.select(F, flat_x, flat_r, wei), x)


# ---- Fig. 7 baselines: SKNet (same layer), SENet (short skip), GAU-FPN (long skip) -----------
# The paper-version open-aff model/fusion.py (806562e) has all three as short-skip fusions
# (``askc_type`` 'SKFuse', 'SEFuse', 'GAUFuse' of ResBlockV2ASKC); its model/atac/fusion.py has
# the long-skip SK and GAU (``SKFuse_Reduce``, ``GAUChaFuse_Reduce``), and model/atac/
# convolution.py the same-layer SK cell (``SKConv``). The layers and names below are those of
# model/fusion.py; docs/segmentation.md lists where the drafts differ.

@register_fusion('sk', 'SKFuse')
class SKFuse(_Fusion):
    """Selective-kernel fusion of SKNet (Li et al., 2019) (tag ``sk``; original ``SKFuse``).

    ``a = softmax over the pair of GlobalAtt(x + residual)``, ``GlobalAtt = GAP - conv1x1(C/r) -
    BN - ReLU - conv1x1(2C) - BN`` (channel ``c`` of the first half weights ``x``, of the second
    half ``residual``). ``original`` form: ``2 * (x * a_1 + residual * a_2)`` (the factor 2 of the
    original's ``SKFuse`` and of the long-skip draft ``SKFuse_Reduce``); ``paper`` form:
    ``residual * a_1 + x * a_2`` (the same-layer draft ``SKConv``: ``x3 * a_1 + x5 * a_2``
    called as ``fuse(x5, x3)``, no factor 2).

    Parameters
    ----------
    channels : int
        Channels C of both inputs.
    r : int, default 4
        Reduction ratio of the bottleneck (the original hard-codes C // 4; SKNet uses
        ``max(C / 16, 32)``).
    form : {'original', 'paper'}
    """
    _FACTOR = 2

    def __init__(self, channels=64, r=4, **kwargs):
        super(SKFuse, self).__init__(channels, r, **kwargs)
        with self.name_scope():
            self.global_att = context_branch(2 * channels, self.inter_channels, pooled=True)

    def hybrid_forward(self, F, x, residual):
        logits = F.reshape(self.global_att(x + residual), (0, 2, -1, 0))   # (N, 2, C, 1)
        wei = F.softmax(logits, axis=1)
        first = F.reshape(F.slice_axis(wei, axis=1, begin=0, end=1), (0, -1, 1, 1))
        second = F.reshape(F.slice_axis(wei, axis=1, begin=1, end=2), (0, -1, 1, 1))
        if self.form == 'paper':
            x, residual = residual, x
        return self.scale(F.broadcast_mul(x, first) + F.broadcast_mul(residual, second))


def _gated_global_branch(channels, inter_channels, reduce):
    """``GAP - [conv1x1(C/r) - BN - ReLU -] conv1x1(C) - BN - sigmoid`` (keys as the original's
    ``global_att`` of ``SEFuse`` / ``GAUFuse``: the sigmoid is the last layer of the branch)."""
    branch = context_branch(channels, inter_channels, pooled=True, reduce=reduce)
    branch.add(nn.Activation('sigmoid'))
    return branch


@register_fusion('se', 'SEFuse')
class SEFuse(_Fusion):
    """SENet refinement (Hu et al., 2018), ``residual + G(x) * x`` (tag ``se``; original
    ``SEFuse``). ``G = GAP - conv1x1(C/r) - BN - ReLU - conv1x1(C) - BN - sigmoid``: the original's
    layers (SENet's own excitation has no BN). ``form`` is ignored (Table 1's SENet row).

    Parameters
    ----------
    channels : int
    r : int, default 4
        Reduction ratio (the original's default 4 in the CIFAR blocks, 16 in its bottlenecks;
        SENet uses 16).
    """

    def __init__(self, channels=64, r=4, **kwargs):
        super(SEFuse, self).__init__(channels, r, **kwargs)
        with self.name_scope():
            self.global_att = _gated_global_branch(channels, self.inter_channels, reduce=True)

    def hybrid_forward(self, F, x, residual):
        return residual + F.broadcast_mul(x, self.global_att(x))


@register_fusion('gau', 'GAUFuse')
class GAUFuse(_Fusion):
    """Global attention upsample of PAN (Li et al., 2018), ``G(x) * residual + x`` (tag ``gau``;
    original ``GAUFuse``): ``x`` (the high-level input) gates ``residual`` with ``G = GAP -
    conv1x1(C) - BN - sigmoid``, a single convolution as in the original and its long-skip draft
    ``GAUChaFuse_Reduce``; ``r`` and ``form`` are ignored (Table 1's GAU row)."""

    def __init__(self, channels=64, r=1, **kwargs):
        super(GAUFuse, self).__init__(channels, 1, **kwargs)
        with self.name_scope():
            self.global_att = _gated_global_branch(channels, channels, reduce=False)

    def hybrid_forward(self, F, x, residual):
        return F.broadcast_mul(residual, self.global_att(x)) + x


# ---- the long-skip drafts' own arithmetic (open-aff 806562e model/atac/fusion.py) ------------
# The FPN host's ``merge='draft'`` (gluon_aff/model_zoo/fpn.py) wraps a fusion in the drafts'
# ``<Kind>_Reduce`` layout. For most tags the draft computes exactly the registry fusion; these
# are the exceptions (not registered: the tag stays the registry's).

class DraftConcatenation(HybridBlock):
    """``ConcatFuse_Reduce``'s fusion: the bare ``concat([xh, xl])`` (``2C`` channels); the
    merge's ``post`` 3x3 convolution does the learning (no BN + 1x1 as in the short skip)."""
    tag = 'concat'

    def __init__(self, channels=64, r=None, form='original', **kwargs):
        super(DraftConcatenation, self).__init__(**kwargs)
        self.channels, self.form = channels, form

    def hybrid_forward(self, F, x, residual):
        return F.concat(x, residual, dim=1)


class DraftMSSEFuse(MSSEFuse):
    """``XplusAYforYChaFuse_Reduce``: ``residual + M(x + residual) * x`` (the short-skip MS-SE
    weights from ``x`` alone; this draft from the sum)."""

    _INPUT = 'sum'


class DraftIAFF(iAFF):  # pylint: disable=invalid-name
    """``IASKCChaFuse_Reduce``: iAFF with the factor 2 in both selections (``original`` form),
    ``xi = 2 (x w1 + residual (1 - w1))``, ``out = 2 (x w2 + residual (1 - w2))``; the ``paper``
    form is the registry iAFF's. (The draft also reuses the name ``xl`` for ``local_att(xa)``,
    so its selections mix ``local_att(xa)`` instead of the low-level map; not reproduced, see
    docs/segmentation.md.)"""

    _FACTOR = 2


class DraftSKFuse(SKFuse):
    """``SKFuse_Reduce``: the registry SK; the draft names its branch ``attention``."""
    draft_names = {'global_att': 'attention'}


#: registry tag -> the long-skip draft's variant, where its arithmetic or layout differs
LONG_SKIP_VARIANTS = {'concat': DraftConcatenation, 'ms_se': DraftMSSEFuse, 'iaff': DraftIAFF,
                      'sk': DraftSKFuse}

#: reduction ratio of every fusion not named by a preset (Table 2: r = 4 in ResNet-20-b,
#: Inception-ResNet-20-b and ResNet-20-b + FPN)
DEFAULT_R = 4

#: named ``r`` per fusion tag: ``'table4'`` = Sec. 5.1.2's ratios "to keep the parameter budget
#: the same" in Table 4 (r = 2 for MS-GAU, MS-SE, MS-SA and AFF, r = 4 for iAFF; the MS-*
#: baselines have no bottleneck, so their entries change nothing); tags absent: DEFAULT_R
R_PRESETS = {'table2': {}, 'table4': {'ms_gau': 2, 'ms_se': 2, 'ms_sa': 2, 'aff': 2, 'iaff': 4}}


def reduction_ratio(fusion, r):
    """The integer reduction ratio of ``fusion`` given ``r``.

    ``r`` is an int (every fusion), a preset name of :data:`R_PRESETS` or a mapping ``{tag:
    r}`` (fusions absent from it get :data:`DEFAULT_R`). ``fusion`` is a tag, an original name,
    or a block class/callable (looked up by its ``tag`` attribute).
    """
    if isinstance(r, str):
        if r not in R_PRESETS:
            raise ValueError('unknown r preset %r; choose an integer or one of %s'
                             % (r, ', '.join(sorted(R_PRESETS))))
        r = R_PRESETS[r]
    if isinstance(r, dict):
        tag = resolve_fusion(fusion) if isinstance(fusion, str) else getattr(fusion, 'tag', None)
        return r.get(tag, DEFAULT_R)
    return r


def resolve_fusion(name):
    """Return the registry tag for a tag or an original ``askc_type`` name."""
    if name in FUSIONS:
        return name
    if name in FUSION_ALIASES:
        return FUSION_ALIASES[name]
    raise ValueError('unknown fusion %r; choose one of %s (or an original askc_type: %s)'
                     % (name, ', '.join(sorted(FUSIONS)), ', '.join(sorted(FUSION_ALIASES))))


def build_fusion(fusion, channels, r=4, form='original'):
    """Build a fusion block for ``channels`` channels, called as ``fuse(x, residual)``.

    Parameters
    ----------
    fusion : str, HybridBlock class or callable
        A tag of :data:`FUSIONS` (``'aff'``, ``'iaff'``, ...), an original ``askc_type``, or -
        as timm's attention factory - a block class or any callable returning a block:
        ``fusion(channels, r=r, form=form)``, passing ``r`` and ``form`` only where its
        signature names them (registered classes get both).
    channels : int
        Channels of both inputs.
    r : int, str or dict, default 4
        Channel reduction ratio (ignored by ``add``, ``concat``, ``gau`` and the MS-* baselines),
        or a preset name / ``{tag: r}`` mapping giving each fusion its own (:func:`reduction_ratio`).
    form : {'original', 'paper'}
        Argument convention, see :meth:`_Fusion.select`.
    """
    r = reduction_ratio(fusion, r)
    if isinstance(fusion, str):
        return FUSIONS[resolve_fusion(fusion)](channels=channels, r=r, form=form)
    if not callable(fusion):
        raise ValueError('fusion must be a registered tag (%s), an original askc_type, a block '
                         'class or a callable, got %r' % (', '.join(sorted(FUSIONS)), fusion))
    kwargs = dict(r=r, form=form)
    if fusion not in FUSIONS.values():
        try:
            named = inspect.signature(fusion).parameters
        except (TypeError, ValueError):  # builtins without a signature
            named = {}
        kwargs = {k: v for k, v in kwargs.items() if k in named}
    block = fusion(channels, **kwargs)
    if not isinstance(block, Block):
        raise ValueError('fusion %r returned %s, not a Gluon block'
                         % (getattr(fusion, '__name__', fusion), type(block).__name__))
    return block
