"""Inception-ResNet-20-b: same-layer fusion inside an Inception-style cell (paper Sec. 4.3, Fig. 3).

The paper's InceptionNet column of Tables 3 and 4 fuses, *within one layer*, the outputs of two
kernels of different receptive field: ``X`` = a 3x3 kernel, ``Y`` = a 5x5 kernel (Sec. 4.1).
The original code never released this host; its unfinished ``model/atac`` folder (paper-version
commit 806562e) shows what was run, and this module rebuilds it:

* the pre-activation ResNet-20-b layout of :class:`~gluon_aff.model_zoo.CIFARAFFResNet`
  (stem ``BN(scale=False, center=False)``, ``b`` blocks per stage, ``BN-ReLU-GAP-Dense`` head),
* in which every 3x3 convolution - the stem's included - is an :class:`InceptionFusionCell`: two
  parallel 3x3 convolutions with dilation 1 (``feature_spatial_3``, X) and dilation 2
  (``feature_spatial_5``, Y: a 5x5 receptive field at 3x3 cost; ``kernel_sizes=(3, 5),
  dilations=(1, 1)`` gives the paper's true 5x5 kernel), each followed by BN, with the stride on
  both, joined by a registry fusion (:func:`gluon_aff.nn.build_fusion`) instead of the
  concatenation/addition of an Inception module;
* the block shortcut is a strided 1x1 convolution without BN (``shortcut='conv'``) and the short
  skip itself is a plain addition (the fusion under study is the same-layer one).

Argument order: every fusion is called ``fuse(Y, X)`` - the first slot holds the input with the
larger receptive field, exactly as the residual blocks call ``fuse(branch, identity)``. The
cells' default ``form='paper'`` computes ``M * X + (1 - M) * Y`` (paper Eq. 4), which is what the
``atac`` cells compute (``SK_LGChaDyReFConv``: ``x3 * w + x5 * (1 - w)``, ``SKConv``,
``MatryoshkaDyReFConv``: no factor 2); ``form='original'`` gives the short-skip code's convention
(AFF with the factor 2). The MS-GAU / MS-SENet / MS-SA baselines match the ``atac`` cells term for
term in either form (``AYforXplusY``: ``M(x5) * x3 + x5`` ...). See ``docs/segmentation.md`` for
every choice the paper leaves open.
"""
from __future__ import division

import functools

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from mxnet.gluon.nn import BatchNorm

from ..nn.fusion import build_fusion
from .cifar_resnet import CIFARResBlockV2, add_preact_head, cifar_features
from .common import ImageNetwork, make_norm as _norm, make_stages

__all__ = ['InceptionFusionCell', 'InceptionResBlockV2', 'CIFARInceptionResNet']


def _check_pair(name, values, odd=False):
    values = tuple(values)
    if len(values) != 2 or not all(isinstance(v, int) and v >= 1 and (v % 2 or not odd)
                                   for v in values):
        raise ValueError('%s must be two %sintegers >= 1 (X kernel, Y kernel), got %r'
                         % (name, 'odd ' if odd else '', values))
    return values


class InceptionFusionCell(HybridBlock):
    """Two parallel convolutions of different receptive field fused by a registry fusion.

    ``x3 = BN(conv3x3_d1(x))`` (X, 3x3), ``x5 = BN(conv3x3_d2(x))`` (Y, 5x5 receptive field),
    output ``fuse(x5, x3)`` (paper Sec. 4.1 same-layer scenario, Fig. 3 AFF-Inception module).
    ``kernel_sizes=(3, 5), dilations=(1, 1)`` makes Y the paper's true 5x5 kernel.

    Parameters
    ----------
    channels : int
        Output channels of both kernels and of the fusion.
    stride : int, default 1
        Stride of both convolutions.
    fusion : str, default 'aff'
        Registry tag of the fusion replacing the Inception concatenation.
    r : int, str or dict, default 4
        Reduction ratio of the fusion (Table 2: 4), or a per-fusion preset (``'table4'``).
    form : {'original', 'paper'}, default 'paper'
        Argument convention of the fusion (module docstring; ``paper`` = the ``atac`` cells).
    dilations : tuple of int, default (1, 2)
        Dilations of the X and Y kernels (the ``atac`` cells: 1 and 2).
    kernel_sizes : tuple of int, default (3, 3)
        Kernel sizes of X and Y (odd); ``(3, 5)`` with ``dilations=(1, 1)``: a true 5x5 Y.
    in_channels : int, default 0
        Input channels (0: inferred).
    use_bias : bool, default True
        Bias in the two convolutions (the ``atac`` cells keep Gluon's default ``True``).
    """

    def __init__(self, channels, stride=1, fusion='aff', r=4, form='paper', dilations=(1, 2),
                 kernel_sizes=(3, 3), in_channels=0, use_bias=True, norm_layer=BatchNorm,
                 norm_kwargs=None, **kwargs):
        super(InceptionFusionCell, self).__init__(**kwargs)
        dilations = _check_pair('dilations', dilations)
        kernel_sizes = _check_pair('kernel_sizes', kernel_sizes, odd=True)
        with self.name_scope():
            self.feature_spatial_3 = self._branch(channels, stride, kernel_sizes[0], dilations[0],
                                                  in_channels, use_bias, norm_layer, norm_kwargs)
            self.feature_spatial_5 = self._branch(channels, stride, kernel_sizes[1], dilations[1],
                                                  in_channels, use_bias, norm_layer, norm_kwargs)
            self.attention = build_fusion(fusion, channels, r=r, form=form)

    @staticmethod
    def _branch(channels, stride, kernel_size, dilation, in_channels, use_bias, norm_layer,
                norm_kwargs):
        branch = nn.HybridSequential(prefix='')
        branch.add(nn.Conv2D(channels, kernel_size=kernel_size, strides=stride,
                             padding=dilation * (kernel_size - 1) // 2, dilation=dilation,
                             use_bias=use_bias, in_channels=in_channels))
        branch.add(_norm(norm_layer, norm_kwargs))
        return branch

    def hybrid_forward(self, F, x):
        x3 = self.feature_spatial_3(x)
        x5 = self.feature_spatial_5(x)
        return self.attention(x5, x3)


class InceptionResBlockV2(CIFARResBlockV2):
    """Pre-activation block ``BN-ReLU-cell-BN-ReLU-cell`` joined to its shortcut by ``skip_fusion``.

    A :class:`~gluon_aff.model_zoo.CIFARResBlockV2` (same layout ``resfwd``, ``downsample``,
    ``attention`` and forward) whose two 3x3 convolutions are :class:`InceptionFusionCell` s.
    The shortcut is projected by a strided 1x1 convolution without BN when the width changes
    (the ``atac`` block). ``first_width`` narrows the first cell as the ``atac`` block builds it
    (``ResBlockV2DyReF``'s ``conv1`` gets the stage's input width).

    Parameters
    ----------
    fusion : str
        Registry tag of the same-layer fusion inside both cells.
    channels : int
        Output channels.
    stride : int
        Stride of the first cell.
    downsample : bool
        Project the shortcut.
    in_channels : int
        Input channels.
    r : int, str or dict, default 4
        Reduction ratio of the fusions (or a per-fusion preset, ``'table4'``).
    skip_fusion : str, default 'add'
        Registry tag of the short-skip fusion (``add``: the plain residual sum of the ``atac``
        host; any other tag gives a network with both scenarios fused).
    form : {'original', 'paper'}, default 'paper'
        Argument convention of the cells' fusions.
    skip_form : {'original', 'paper'}, default 'original'
        Argument convention of the short-skip fusion (the short-skip code's).
    dilations, kernel_sizes : tuple of int
        Of the cells' X and Y kernels (:class:`InceptionFusionCell`).
    first_width : int or None, default None
        Output width of the first cell (None: ``channels``).
    """

    def __init__(self, fusion, channels, stride, downsample=False, in_channels=0, r=4,
                 skip_fusion='add', form='paper', skip_form='original', dilations=(1, 2),
                 kernel_sizes=(3, 3), first_width=None, norm_layer=BatchNorm, norm_kwargs=None,
                 **kwargs):
        cell = functools.partial(InceptionFusionCell, fusion=fusion, r=r, form=form,
                                 dilations=dilations, kernel_sizes=kernel_sizes,
                                 norm_layer=norm_layer, norm_kwargs=norm_kwargs)
        # CIFARResBlockV2 builds conv(channels, stride, in_channels), then conv(channels, 1,
        # channels): with a narrower first cell the second one's input width is inferred
        widths = [first_width or channels, channels]
        narrow = widths[0] != channels

        def conv(_, stride_, in_channels_):
            width = widths.pop(0)
            return cell(width, stride=stride_, in_channels=0 if narrow and not widths
                        else in_channels_)
        super(InceptionResBlockV2, self).__init__(
            skip_fusion, channels, stride, downsample, in_channels, r=r, shortcut=_plain_shortcut,
            form=skip_form, norm_layer=norm_layer, norm_kwargs=norm_kwargs, conv=conv, **kwargs)


def _plain_shortcut(channels, stride, in_channels):
    """The ``atac`` block's shortcut: a bare strided 1x1 convolution (key ``downsample.weight``)."""
    return nn.Conv2D(channels, kernel_size=1, strides=stride, use_bias=False,
                     in_channels=in_channels)


class CIFARInceptionResNet(ImageNetwork):
    """Inception-ResNet-(6b+2) for CIFAR: ResNet-20-b with Inception fusion cells (Table 2).

    ``BN(scale=False, center=False) - cell - stages - BN - ReLU - GAP - Flatten - Dense``.

    Parameters
    ----------
    layers : list of int
        Blocks per stage (``[b, b, b]``).
    channels : list of int
        Stem width followed by the width of each stage (ResNet-20-b: ``[16, 16, 32, 64]``).
    classes : int, default 100
        Output units (the original trains 20 CIFAR-100 super-classes on a 100-way head).
    fusion : str, default 'aff'
        Registry tag of the same-layer fusion in every cell.
    r : int, str or dict, default 4
        Reduction ratio of the fusions (Table 2), or a per-fusion preset: ``'table4'`` =
        Sec. 5.1.2's equal budgets (:data:`gluon_aff.nn.R_PRESETS`).
    skip_fusion : str, default 'add'
        Fusion of the residual short skips (see :class:`InceptionResBlockV2`).
    form : {'original', 'paper'}, default 'paper'
        Argument convention of the cells' fusions: ``paper`` = the ``atac`` cells (no factor 2).
    skip_form : {'original', 'paper'}, default 'original'
        Argument convention of the short-skip fusion.
    dilations : tuple of int, default (1, 2)
        Dilations of the X (3x3) and Y (5x5 receptive field) kernels.
    kernel_sizes : tuple of int, default (3, 3)
        Kernel sizes of X and Y; ``(3, 5)`` with ``dilations=(1, 1)``: the paper's true 5x5 Y.
    cell_stem : bool, default True
        The stem convolution is a fusion cell too (as in ``atac``); False: a plain 3x3 conv.
    narrow_first : bool, default False
        Build the first cell of every block with the stage's *input* width, as the ``atac``
        host does (``ResBlockV2DyReF``: ``conv1`` gets ``channels=in_channels``, the stage's
        input width for every block of the stage): fewer parameters, the draft's layout.
    """

    def __init__(self, layers, channels, classes=100, fusion='aff', r=4, skip_fusion='add',
                 form='paper', skip_form='original', dilations=(1, 2), kernel_sizes=(3, 3),
                 cell_stem=True, narrow_first=False, norm_layer=BatchNorm, norm_kwargs=None,
                 **kwargs):
        super(CIFARInceptionResNet, self).__init__(**kwargs)
        cell_args = dict(r=r, form=form, dilations=dilations, kernel_sizes=kernel_sizes,
                         norm_layer=norm_layer, norm_kwargs=norm_kwargs)
        with self.name_scope():
            self.features = cifar_features(layers, channels, norm_layer, norm_kwargs)
            if cell_stem:
                self.features.add(InceptionFusionCell(channels[0], 1, fusion=fusion, **cell_args))
            else:
                self.features.add(nn.Conv2D(channels[0], 3, 1, 1, use_bias=False))
            stage_inputs = dict(enumerate(channels[:-1], 1))   # stage index -> input width

            def block(stage_index, out_channels, stride, downsample, in_channels):
                return InceptionResBlockV2(
                    fusion, out_channels, stride=stride, downsample=downsample,
                    in_channels=in_channels, skip_fusion=skip_fusion, skip_form=skip_form,
                    first_width=stage_inputs[stage_index] if narrow_first else None,
                    **cell_args)
            stages, in_channels = make_stages(layers, channels[1:], channels[0], block)
            self.features.add(*stages)
            add_preact_head(self.features, norm_layer, norm_kwargs)
            self.output = nn.Dense(classes, in_units=in_channels)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))
