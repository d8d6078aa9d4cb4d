"""ResNet-20-b + FPN for semantic segmentation: long-skip fusion (paper Sec. 4.3, Fig. 3, Table 2).

The paper's FPN column of Tables 3 and 4 (StopSign segmentation) replaces the addition of every
top-down merge of a feature pyramid with a fusion. No released code builds this host, but two
drafts of the same authors show how they wrote it (``docs/segmentation.md``):

* open-aff 806562e ``model/atac/fusion.py``: the long-skip fusions ``<Kind>_Reduce``, called
  ``fuse(xh, xl)`` with ``xh`` the upsampled high-level map and ``xl`` the low-level map:
  ``feature_high`` = conv1x1(C, bias)-BN-ReLU maps ``xh`` to the low level's width C, then the
  fusion, then ``post`` = conv3x3(C, pad 1, bias)-BN-ReLU;
* open-acm ``model/segmentation.py`` ``ASKCResNetFPN``: a CIFAR-style backbone whose deeper output
  is bilinearly resized to the next finer level and merged there (``fuse23(up(c3), c2)``, then
  ``fuse12(up(.), c1)``), and a GluonCV ``_FCNHead`` on the finest level.

Two layouts of the merges (``merge=``):

* ``'draft'`` (default, the closest thing to the original code): :class:`LongSkipMerge` blocks
  under the drafts' names ``fuse12``, ``fuse23`` (``fuse34`` with four stages), bilinear
  upsampling as the drafts call it (``align_corners=True``), the FCN head (``head.block.*``);
  every merge keeps its level's width. The merge blocks carry the drafts' parameter names, so a
  draft-built merge or head loads unchanged;
* ``'paper'`` (the layout built from Fig. 3 alone): laterals (bias-free 1x1 convolutions)
  *expand* every level to the top width, ``P_k = fuse(up(P_{k+1}), lateral_k(C_k))`` with no 3x3
  after it, nearest x2 upsampling, and a ``BN - ReLU - conv1x1`` head.

The backbone is the paper's ResNet-20-b in both (the paper-version CIFAR ResNet: pre-activation
blocks, widths 16-16-32-64, ``b`` blocks per stage, strided 1x1-conv shortcuts, short skips by
plain addition, under the names ``features.*``), not open-acm's post-activation one. Every fusion
is called ``fuse(Y, X)`` = ``fuse(upsampled high level, low level)``, as everywhere in this
package.
"""
from __future__ import division

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from mxnet.gluon.contrib.nn import Identity
from mxnet.gluon.nn import BatchNorm

from ..nn.fusion import LONG_SKIP_VARIANTS, build_fusion, reduction_ratio, resolve_fusion
from .cifar_resnet import SHORTCUTS, CIFARResBlockV2, cifar_features
from .common import ImageNetwork, make_norm as _norm, make_stages

__all__ = ['AFFFPNResNet', 'LongSkipMerge', 'MERGES', 'UPSAMPLE_MODES', 'DRAFT_MERGE_NAMES']

#: layouts of the top-down merges
MERGES = ('draft', 'paper')
#: how the coarser pyramid level is brought to the finer level's size
UPSAMPLE_MODES = ('nearest', 'bilinear')

#: registry tag -> the long-skip draft class its ``merge='draft'`` block follows (open-aff 806562e
#: model/atac/fusion.py); a tag without a draft is its registry fusion in the drafts' layout
DRAFT_MERGE_NAMES = {
    'add': 'Direct_AddFuse_Reduce', 'concat': 'ConcatFuse_Reduce', 'sk': 'SKFuse_Reduce',
    'aff': 'LocalGlobalChaFuse_Reduce', 'gg': 'GlobalGlobalChaFuse_Reduce',
    'll': 'LocalLocalChaFuse_Reduce', 'iaff': 'IASKCChaFuse_Reduce',
    'ms_gau': 'AYforXplusYChaFuse_Reduce', 'ms_se': 'XplusAYforYChaFuse_Reduce',
    'ms_sa': 'AXYforXplusYChaFuse_Reduce', 'gau': 'GAUChaFuse_Reduce'}


def _conv_bn_relu(channels, kernel_size, norm_layer, norm_kwargs):
    layers = nn.HybridSequential(prefix='')
    layers.add(nn.Conv2D(channels, kernel_size, padding=kernel_size // 2))
    layers.add(_norm(norm_layer, norm_kwargs))
    layers.add(nn.Activation('relu'))
    return layers


class LongSkipMerge(HybridBlock):
    """The drafts' long-skip fusion block ``<Kind>_Reduce``: ``post(fuse(feature_high(xh), xl))``.

    ``feature_high = conv1x1(C, bias) - BN - ReLU`` maps the upsampled high-level map ``xh`` (any
    width) to the width C of the low-level map ``xl``; ``post = conv3x3(C, pad 1, bias) - BN -
    ReLU``. The fusion is the registry's (:func:`~gluon_aff.nn.build_fusion`) except where the
    draft computes something else (:data:`~gluon_aff.nn.fusion.LONG_SKIP_VARIANTS`: the bare
    concatenation of ``ConcatFuse_Reduce``, MS-SE weighting from ``xh + xl``, iAFF with the factor
    2 in both stages).

    Checkpoint keys: the drafts hold the fusion's branches as attributes of the merge block
    itself, so the fusion's parameters are saved at this block's level (``local_att.0.weight``,
    not ``fusion.local_att.0.weight``; SK's branch under the draft's name ``attention``). A fusion
    with children named like the merge's own (``half_aff``, ``concat_aff``: their ``post``; no
    draft has them) keeps them under ``fusion.``.

    Parameters
    ----------
    fusion : str, block class or callable
        The fusion (anything :func:`~gluon_aff.nn.build_fusion` takes).
    channels : int
        Width C of the low-level map, of the fusion and of the output.
    r : int, str or dict, default 4
        Reduction ratio (or a per-fusion preset, :func:`~gluon_aff.nn.reduction_ratio`).
    form : {'original', 'paper'}, default 'original'
        Argument convention of the fusion (``original``: the drafts' arithmetic).
    """

    def __init__(self, fusion, channels, r=4, form='original', norm_layer=BatchNorm,
                 norm_kwargs=None, **kwargs):
        super(LongSkipMerge, self).__init__(**kwargs)
        variant = LONG_SKIP_VARIANTS.get(resolve_fusion(fusion)) if isinstance(fusion, str) \
            else None
        with self.name_scope():
            self.feature_high = _conv_bn_relu(channels, 1, norm_layer, norm_kwargs)
            if variant is None:
                self.fusion = build_fusion(fusion, channels, r=r, form=form)
            else:
                self.fusion = variant(channels, r=reduction_ratio(fusion, r), form=form)
            self.post = _conv_bn_relu(channels, 3, norm_layer, norm_kwargs)
        self._renames = dict(getattr(self.fusion, 'draft_names', {}))
        names = {self._renames.get(n, n) for n in self.fusion._children}
        self._flat = not names & {'feature_high', 'post'}

    def hybrid_forward(self, F, xh, xl):
        return self.post(self.fusion(self.feature_high(xh), xl))

    def _collect_params_with_prefix(self, prefix=''):
        """Structural names as the drafts': the fusion's parameters at this block's level."""
        params = super(LongSkipMerge, self)._collect_params_with_prefix(prefix)
        if not self._flat:
            return params
        nested = (prefix + '.' if prefix else '') + 'fusion.'
        flat = {}
        for key, param in params.items():
            if key.startswith(nested):
                head, _, tail = key[len(nested):].partition('.')
                key = key[:len(nested) - len('fusion.')] + self._renames.get(head, head) + (
                    '.' + tail if tail else '')
            flat[key] = param
        return flat


class AFFFPNResNet(ImageNetwork):
    """CIFAR pre-activation ResNet backbone + feature pyramid whose merges are fusions.

    Parameters
    ----------
    layers : list of int
        Blocks per backbone stage (``[b, b, b]``).
    channels : list of int
        Stem width followed by the width of each stage (ResNet-20-b: ``[16, 16, 32, 64]``).
    classes : int, default 2
        Segmentation classes (StopSign: background and stop sign).
    fusion : str, default 'aff'
        Registry tag of the fusion of every top-down merge (long skip).
    r : int, str or dict, default 4
        Reduction ratio of the fusions (Table 2), or a per-fusion preset such as ``'table4'``.
    form : {'original', 'paper'}, default 'original'
        Argument convention of the fusions; ``'paper'`` computes ``M * X + (1 - M) * Y`` with X
        the low-level map, paper Eq. 4.
    merge : {'draft', 'paper'}, default 'draft'
        Layout of the top-down merges (module docstring).
    backbone_fusion : str, default 'add'
        Fusion of the backbone's short skips (``add``: plain ResNet-20-b).
    shortcut : {'conv', 'avg'}, default 'conv'
        Backbone shortcut projection (paper version: strided 1x1 conv).
    fpn_channels : int or None, default None
        ``merge='paper'`` only: pyramid width; None = the last stage's width (lower levels are
        *expanded* to it, the blue lines of Fig. 3). A stage already this wide gets no lateral.
    upsample : {'nearest', 'bilinear'} or None, default None
        Upsampling of the coarser level to the finer level's size: ``bilinear``
        (``BilinearResize2D``, ``align_corners=True`` as the drafts call it) or ``nearest`` (x2,
        cropped); None = ``bilinear`` for ``merge='draft'``, ``nearest`` for ``'paper'``.
    """

    def __init__(self, layers, channels, classes=2, fusion='aff', r=4, form='original',
                 merge='draft', backbone_fusion='add', shortcut='conv', fpn_channels=None,
                 upsample=None, norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        super(AFFFPNResNet, self).__init__(**kwargs)
        if len(layers) < 2:
            raise ValueError('a feature pyramid needs at least two stages, got layers=%s'
                             % (list(layers),))
        if merge not in MERGES:
            raise ValueError('merge must be one of %s, got %r' % (MERGES, merge))
        if upsample is None:
            upsample = 'bilinear' if merge == 'draft' else 'nearest'
        if upsample not in UPSAMPLE_MODES:
            raise ValueError('upsample must be one of %s, got %r' % (UPSAMPLE_MODES, upsample))
        if shortcut not in SHORTCUTS:
            raise ValueError('shortcut must be one of %s, got %r' % (SHORTCUTS, shortcut))
        if merge == 'draft' and fpn_channels is not None:
            raise ValueError("fpn_channels applies to merge='paper'; the draft merges keep each "
                             "level's width")
        self.merge, self.upsample = merge, upsample
        self.fpn_channels = (fpn_channels or channels[-1]) if merge == 'paper' else None
        with self.name_scope():
            self.features = cifar_features(layers, channels, norm_layer, norm_kwargs)
            self.features.add(nn.Conv2D(channels[0], 3, 1, 1, use_bias=False))

            def block(_, out_channels, stride, downsample, in_channels):
                return CIFARResBlockV2(backbone_fusion, out_channels, stride, downsample,
                                       in_channels, r=r, shortcut=shortcut, form=form,
                                       norm_layer=norm_layer, norm_kwargs=norm_kwargs)
            self.features.add(*make_stages(layers, channels[1:], channels[0], block)[0])
            if merge == 'draft':
                self._draft_layout(channels, classes, fusion, r, form, norm_layer, norm_kwargs)
            else:
                self._paper_layout(channels, classes, fusion, r, form, norm_layer, norm_kwargs)

    def _draft_layout(self, channels, classes, fusion, r, form, norm_layer, norm_kwargs):
        """``fuse<k><k+1>`` = a :class:`LongSkipMerge` at level k's width; FCN head."""
        from gluoncv.model_zoo.fcn import _FCNHead  # here: importing gluon_aff loads no gluoncv
        self._merges = []
        for k in range(1, len(channels) - 1):
            name = 'fuse%d%d' % (k, k + 1)
            setattr(self, name, LongSkipMerge(fusion, channels[k], r=r, form=form,
                                              norm_layer=norm_layer, norm_kwargs=norm_kwargs))
            self._merges.append(name)
        self.head = _FCNHead(in_channels=channels[1], channels=classes, norm_layer=norm_layer,
                             norm_kwargs=norm_kwargs)

    def _paper_layout(self, channels, classes, fusion, r, form, norm_layer, norm_kwargs):
        """One lateral and one fusion per level at ``fpn_channels``; ``BN-ReLU-1x1`` head."""
        width = self.fpn_channels
        self.lateral = nn.HybridSequential(prefix='lateral_')
        with self.lateral.name_scope():
            for level_width in channels[1:]:
                self.lateral.add(Identity() if level_width == width else nn.Conv2D(
                    width, kernel_size=1, use_bias=False, in_channels=level_width))
        self.fuse = nn.HybridSequential(prefix='fuse_')
        with self.fuse.name_scope():
            for _ in range(len(channels) - 2):
                self.fuse.add(build_fusion(fusion, width, r=r, form=form))
        self.head = nn.HybridSequential(prefix='head_')
        with self.head.name_scope():
            self.head.add(_norm(norm_layer, norm_kwargs))
            self.head.add(nn.Activation('relu'))
            self.head.add(nn.Conv2D(classes, kernel_size=1, in_channels=width))

    def _upsample_like(self, F, y, x):
        if self.upsample == 'bilinear':
            return F.contrib.BilinearResize2D(y, like=x, mode='like', align_corners=True)
        up = F.UpSampling(y, scale=2, sample_type='nearest', num_args=1)
        return F.slice_like(up, x, axes=(2, 3))

    def pyramid(self, F, x):
        """Backbone stage outputs ``[C_1, ..., C_n]``, finest first."""
        x = self.features[1](self.features[0](x))
        levels = []
        for i in range(2, len(self.features)):
            x = self.features[i](x)
            levels.append(x)
        return levels

    def hybrid_forward(self, F, x):
        levels = self.pyramid(F, x)
        if self.merge == 'draft':
            merged = levels[-1]
            for k in range(len(levels) - 2, -1, -1):
                merge = getattr(self, self._merges[k])
                merged = merge(self._upsample_like(F, merged, levels[k]), levels[k])
            return self.head(merged)
        merged = self.lateral[len(levels) - 1](levels[-1])
        for k in range(len(levels) - 2, -1, -1):
            lateral = self.lateral[k](levels[k])
            merged = self.fuse[k](self._upsample_like(F, merged, lateral), lateral)
        return self.head(merged)
