"""Inception-ResNet-20-b: same-layer fusion inside an Inception-style cell (paper Sec. 4.3, Fig. 3).

The paper's InceptionNet column of Tables 3 and 4 fuses, *within one layer*, the outputs of two
kernels of different receptive field: ``X`` = a 3x3 kernel, ``Y`` = a 5x5 kernel (Sec. 4.1).
The original code never released this host; its unfinished ``model/atac`` folder (paper-version
commit 806562e) shows what was run, and this module rebuilds it:

* the pre-activation ResNet-20-b layout of :class:`~gluon_aff.model_zoo.CIFARAFFResNet`
  (stem ``BN(scale=False, center=False)``, ``b`` blocks per stage, ``BN-ReLU-GAP-Dense`` head),
* in which every 3x3 convolution - the stem's included - is an :class:`InceptionFusionCell`: two
  parallel 3x3 convolutions with dilation 1 (``feature_spatial_3``, X) and dilation 2
  (``feature_spatial_5``, Y: a 5x5 receptive field at 3x3 cost), each followed by BN, with the
  stride on both, joined by a registry fusion (:func:`gluon_aff.nn.build_fusion`) instead of the
  concatenation/addition of an Inception module;
* the block shortcut is a strided 1x1 convolution without BN (``shortcut='conv'``) and the short
  skip itself is a plain addition (the fusion under study is the same-layer one).

Argument order: every fusion is called ``fuse(Y, X)`` - the first slot holds the input with the
larger receptive field, exactly as the residual blocks call ``fuse(branch, identity)``. With
``form='paper'`` this computes paper Eq. 4, ``M * X + (1 - M) * Y``; with ``form='original'``
the original code's convention (AFF with the factor 2). The MS-GAU / MS-SENet / MS-SA baselines
then match the ``atac`` cells term for term (``AYforXplusY``: ``M(x5) * x3 + x5`` ...).
See ``docs/segmentation.md`` for every choice the paper leaves open.
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


def _check_dilations(dilations):
    dilations = tuple(dilations)
    if len(dilations) != 2 or not all(isinstance(d, int) and d >= 1 for d in dilations):
        raise ValueError('dilations must be two integers >= 1 (X kernel, Y kernel), got %r'
                         % (dilations,))
    return dilations


class InceptionFusionCell(HybridBlock):
    """Two parallel 3x3 convolutions of different dilation fused by a registry fusion.

    ``x3 = BN(conv3x3_d1(x))`` (X, 3x3), ``x5 = BN(conv3x3_d2(x))`` (Y, 5x5 receptive field),
    output ``fuse(x5, x3)`` (paper Sec. 4.1 same-layer scenario, Fig. 3 AFF-Inception module).

    Parameters
    ----------
    channels : int
        Output channels of both kernels and of the fusion.
    stride : int, default 1
        Stride of both convolutions.
    fusion : str, default 'aff'
        Registry tag of the fusion replacing the Inception concatenation.
    r : int, default 4
        Reduction ratio of the fusion (Table 2: 4).
    form : {'original', 'paper'}
        Argument convention of the fusion (see module docstring).
    dilations : tuple of int, default (1, 2)
        Dilations of the X and Y kernels (the ``atac`` cells: 1 and 2).
    in_channels : int, default 0
        Input channels (0: inferred).
    use_bias : bool, default True
        Bias in the two convolutions (the ``atac`` cells keep Gluon's default ``True``).
    """

    def __init__(self, channels, stride=1, fusion='aff', r=4, form='original', dilations=(1, 2),
                 in_channels=0, use_bias=True, norm_layer=BatchNorm, norm_kwargs=None,
                 **kwargs):
        super(InceptionFusionCell, self).__init__(**kwargs)
        dilation_x, dilation_y = _check_dilations(dilations)
        with self.name_scope():
            self.feature_spatial_3 = self._branch(channels, stride, dilation_x, in_channels,
                                                  use_bias, norm_layer, norm_kwargs)
            self.feature_spatial_5 = self._branch(channels, stride, dilation_y, in_channels,
                                                  use_bias, norm_layer, norm_kwargs)
            self.attention = build_fusion(fusion, channels, r=r, form=form)

    @staticmethod
    def _branch(channels, stride, dilation, in_channels, use_bias, norm_layer, norm_kwargs):
        branch = nn.HybridSequential(prefix='')
        branch.add(nn.Conv2D(channels, kernel_size=3, strides=stride, padding=dilation,
                             dilation=dilation, use_bias=use_bias, in_channels=in_channels))
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
    (the ``atac`` block).

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
    r : int, default 4
        Reduction ratio of the fusions.
    skip_fusion : str, default 'add'
        Registry tag of the short-skip fusion (``add``: the plain residual sum of the ``atac``
        host; any other tag gives a network with both scenarios fused).
    form : {'original', 'paper'}
        Argument convention of the fusions.
    dilations : tuple of int, default (1, 2)
        Dilations of the cells' X and Y kernels.
    """

    def __init__(self, fusion, channels, stride, downsample=False, in_channels=0, r=4,
                 skip_fusion='add', form='original', dilations=(1, 2), norm_layer=BatchNorm,
                 norm_kwargs=None, **kwargs):
        cell = functools.partial(InceptionFusionCell, fusion=fusion, r=r, form=form,
                                 dilations=dilations, norm_layer=norm_layer,
                                 norm_kwargs=norm_kwargs)
        super(InceptionResBlockV2, self).__init__(
            skip_fusion, channels, stride, downsample, in_channels, r=r, shortcut=_plain_shortcut,
            form=form, norm_layer=norm_layer, norm_kwargs=norm_kwargs,
            conv=lambda c, s, i: cell(c, stride=s, in_channels=i), **kwargs)


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
    r : int, default 4
        Reduction ratio of the fusions (Table 2).
    skip_fusion : str, default 'add'
        Fusion of the residual short skips (see :class:`InceptionResBlockV2`).
    form : {'original', 'paper'}, default 'original'
        Argument convention of the fusions.
    dilations : tuple of int, default (1, 2)
        Dilations of the X (3x3) and Y (5x5 receptive field) kernels.
    cell_stem : bool, default True
        The stem convolution is a fusion cell too (as in ``atac``); False: a plain 3x3 conv.
    """

    def __init__(self, layers, channels, classes=100, fusion='aff', r=4, skip_fusion='add',
                 form='original', dilations=(1, 2), cell_stem=True, norm_layer=BatchNorm,
                 norm_kwargs=None, **kwargs):
        super(CIFARInceptionResNet, self).__init__(**kwargs)
        with self.name_scope():
            self.features = cifar_features(layers, channels, norm_layer, norm_kwargs)
            if cell_stem:
                self.features.add(InceptionFusionCell(
                    channels[0], 1, fusion=fusion, r=r, form=form, dilations=dilations,
                    norm_layer=norm_layer, norm_kwargs=norm_kwargs))
            else:
                self.features.add(nn.Conv2D(channels[0], 3, 1, 1, use_bias=False))

            def block(_, out_channels, stride, downsample, in_channels):
                return InceptionResBlockV2(
                    fusion, out_channels, stride=stride, downsample=downsample,
                    in_channels=in_channels, r=r, skip_fusion=skip_fusion, form=form,
                    dilations=dilations, norm_layer=norm_layer, norm_kwargs=norm_kwargs)
            stages, in_channels = make_stages(layers, channels[1:], channels[0], block)
            self.features.add(*stages)
            add_preact_head(self.features, norm_layer, norm_kwargs)
            self.output = nn.Dense(classes, in_units=in_channels)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))
