"""Pre-activation CIFAR ResNet host with a fusion in every residual block.

The host of the paper's ``ResNet-20-b`` ablations (Tables 3, 4, 6: widths 16-16-32-64, ``b``
blocks per stage) and of the final open-aff AFF/iAFF-ResNet-32 (widths 64-64-128-256, b = 5).
Layer layout and attribute names follow the original code so that its checkpoints load.
"""
from __future__ import division

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from mxnet.gluon.nn import BatchNorm

from ..nn.fusion import build_fusion
from .common import (ImageNetwork, deep_stem_layers, fusion_for_stage, make_norm as _norm,
                     make_shortcut, make_stages)

__all__ = ['CIFARResBlockV2', 'CIFARAFFResNet', 'SHORTCUTS', 'cifar_features', 'add_preact_head']

#: how a block that changes width projects its shortcut
SHORTCUTS = ('avg', 'conv')


def _conv3x3(channels, stride, in_channels):
    return nn.Conv2D(channels, kernel_size=3, strides=stride, padding=1, use_bias=False,
                     in_channels=in_channels)


class CIFARResBlockV2(HybridBlock):
    """Pre-activation basic block ``BN-ReLU-conv3x3-BN-ReLU-conv3x3`` fused with its shortcut.

    Parameters
    ----------
    fusion : str, block class or callable
        The fusion joining the branch and the shortcut (a tag such as ``'aff'``, ``'add'``, or
        anything :func:`gluon_aff.nn.build_fusion` takes).
    channels : int
        Output channels.
    stride : int
        Stride of the first convolution.
    downsample : bool
        Project the shortcut (when the width changes).
    in_channels : int
        Input channels.
    r : int, default 4
        Reduction ratio of the fusion's attention.
    shortcut : {'avg', 'conv'} or callable
        Projection of the *raw* block input: ``'avg'`` = AvgPool(stride, ceil_mode,
        count_include_pad=False) then 1x1 conv (final open-aff), ``'conv'`` = strided 1x1 conv
        (paper-version open-aff). Neither has BN. A callable ``shortcut(channels, stride,
        in_channels)`` builds another projection.
    form : {'original', 'paper'}
        Argument convention of the fusion.
    conv : callable, optional
        ``conv(channels, stride, in_channels)`` builds each of the two 3x3 convolutions
        (default: a plain 3x3 convolution without bias).
    """

    def __init__(self, fusion, channels, stride, downsample=False, in_channels=0, r=4,
                 shortcut='avg', form='original', norm_layer=BatchNorm, norm_kwargs=None,
                 conv=_conv3x3, **kwargs):
        super(CIFARResBlockV2, self).__init__(**kwargs)
        if not callable(shortcut) and shortcut not in SHORTCUTS:
            raise ValueError('shortcut must be one of %s, got %r' % (SHORTCUTS, shortcut))
        self.resfwd = nn.HybridSequential(prefix='')
        self.resfwd.add(_norm(norm_layer, norm_kwargs))
        self.resfwd.add(nn.Activation('relu'))
        self.resfwd.add(conv(channels, stride, in_channels))
        self.resfwd.add(_norm(norm_layer, norm_kwargs))
        self.resfwd.add(nn.Activation('relu'))
        self.resfwd.add(conv(channels, 1, channels))

        self.downsample = None
        if downsample:
            self.downsample = shortcut(channels, stride, in_channels) if callable(shortcut) \
                else make_shortcut(channels, stride, shortcut == 'avg', in_channels)
        self.attention = build_fusion(fusion, channels, r=r, form=form)

    def hybrid_forward(self, F, x):
        residual = x if self.downsample is None else self.downsample(x)
        return self.attention(self.resfwd(x), residual)


def cifar_features(layers, channels, norm_layer=BatchNorm, norm_kwargs=None, deep_stem=False):
    """The ``features`` container of a CIFAR host, starting with the original's input
    normalisation ``BN(scale=False, center=False)``; checks ``channels`` against ``layers``.

    ``deep_stem`` appends the final open-aff ``--deep-stem`` (three 3x3 convolutions, widths
    ``C/2, C/2, C`` with ``C = channels[0]``, laid out flat in ``features``); otherwise the host
    adds its own stem convolution.
    """
    if len(layers) != len(channels) - 1:
        raise ValueError('channels needs one entry more than layers (the stem width), got '
                         'layers=%s channels=%s' % (list(layers), list(channels)))
    features = nn.HybridSequential(prefix='')
    features.add(_norm(norm_layer, norm_kwargs, scale=False, center=False))
    if deep_stem:
        features.add(*deep_stem_layers(channels[0], 1, norm_layer, norm_kwargs))
    return features


def add_preact_head(features, norm_layer=BatchNorm, norm_kwargs=None):
    """Append the pre-activation head ``BN - ReLU - GAP - Flatten`` to ``features``."""
    features.add(_norm(norm_layer, norm_kwargs))
    features.add(nn.Activation('relu'))
    features.add(nn.GlobalAvgPool2D())
    features.add(nn.Flatten())


class CIFARAFFResNet(ImageNetwork):
    """CIFAR pre-activation ResNet with attentional feature fusion in its residual blocks.

    ``BN(scale=False, center=False) - conv3x3 - stages - BN - ReLU - GAP - Flatten - Dense``,
    as the original ``CIFARAFFResNet`` (final) and ``ResNet110V2ASKC`` (paper) build it.
    Depth is ``6 * b + 2``.

    Parameters
    ----------
    layers : list of int
        Blocks per stage (``[b, b, b]``).
    channels : list of int
        Stem width followed by the width of each stage, e.g. ``[16, 16, 32, 64]``.
    classes : int, default 100
        Output units. The original trains the 20 CIFAR-100 super-classes on a 100-way head.
    fusion : str, default 'aff'
        Registry tag of the fusion (see :data:`gluon_aff.nn.FUSIONS`).
    r : int, default 4
        Reduction ratio of the fusion.
    start_layer : int, default 1
        Stages with a smaller (1-based) index use plain addition (``--start-layer``).
    shortcut : {'avg', 'conv'}, default 'avg'
        Shortcut projection, see :class:`CIFARResBlockV2`.
    form : {'original', 'paper'}, default 'original'
        Argument convention of the fusion.
    deep_stem : bool, default False
        Final open-aff ``--deep-stem``: three 3x3 convolutions (``C/2, C/2, C``, BN-ReLU
        between) instead of the single stem convolution.
    """

    def __init__(self, layers, channels, classes=100, fusion='aff', r=4, start_layer=1,
                 shortcut='avg', form='original', deep_stem=False, norm_layer=BatchNorm,
                 norm_kwargs=None, **kwargs):
        super(CIFARAFFResNet, self).__init__(**kwargs)
        with self.name_scope():
            self.features = cifar_features(layers, channels, norm_layer, norm_kwargs,
                                           deep_stem=deep_stem)
            if not deep_stem:
                self.features.add(nn.Conv2D(channels[0], 3, 1, 1, use_bias=False))

            def block(stage_index, out_channels, stride, downsample, in_channels):
                return CIFARResBlockV2(fusion_for_stage(stage_index, start_layer, fusion),
                                       out_channels, stride, downsample, in_channels, r=r,
                                       shortcut=shortcut, form=form, norm_layer=norm_layer,
                                       norm_kwargs=norm_kwargs)
            stages, in_channels = make_stages(layers, channels[1:], channels[0], block)
            self.features.add(*stages)
            add_preact_head(self.features, norm_layer, norm_kwargs)
            self.output = nn.Dense(classes, in_units=in_channels)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))
