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
from .common import ImageNetwork, make_norm as _norm

__all__ = ['CIFARResBlockV2', 'CIFARAFFResNet', 'SHORTCUTS', 'cifar_features',
           'add_cifar_stages', 'add_preact_head']

#: how a block that changes width projects its shortcut
SHORTCUTS = ('avg', 'conv')


def _conv3x3(channels, stride, in_channels):
    return nn.Conv2D(channels, kernel_size=3, strides=stride, padding=1, use_bias=False,
                     in_channels=in_channels)



class CIFARResBlockV2(HybridBlock):
    """Pre-activation basic block ``BN-ReLU-conv3x3-BN-ReLU-conv3x3`` fused with its shortcut.

    Parameters
    ----------
    fusion : str
        Registry tag of the fusion joining the branch and the shortcut (``'aff'``, ``'add'``...).
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
    shortcut : {'avg', 'conv'}
        Projection of the *raw* block input: ``'avg'`` = AvgPool(stride, ceil_mode,
        count_include_pad=False) then 1x1 conv (final open-aff), ``'conv'`` = strided 1x1 conv
        (paper-version open-aff). Neither has BN.
    form : {'original', 'paper'}
        Argument convention of the fusion.
    """

    def __init__(self, fusion, channels, stride, downsample=False, in_channels=0, r=4,
                 shortcut='avg', form='original', norm_layer=BatchNorm, norm_kwargs=None,
                 **kwargs):
        super(CIFARResBlockV2, self).__init__(**kwargs)
        if shortcut not in SHORTCUTS:
            raise ValueError('shortcut must be one of %s, got %r' % (SHORTCUTS, shortcut))
        self.resfwd = nn.HybridSequential(prefix='')
        self.resfwd.add(_norm(norm_layer, norm_kwargs))
        self.resfwd.add(nn.Activation('relu'))
        self.resfwd.add(_conv3x3(channels, stride, in_channels))
        self.resfwd.add(_norm(norm_layer, norm_kwargs))
        self.resfwd.add(nn.Activation('relu'))
        self.resfwd.add(_conv3x3(channels, 1, channels))

        self.downsample = None
        if downsample:
            self.downsample = nn.HybridSequential(prefix='')
            if shortcut == 'avg':
                self.downsample.add(nn.AvgPool2D(pool_size=stride, strides=stride,
                                                 ceil_mode=True, count_include_pad=False))
                stride = 1
            self.downsample.add(nn.Conv2D(channels, kernel_size=1, strides=stride,
                                          use_bias=False, in_channels=in_channels))
        self.attention = build_fusion(fusion, channels, r=r, form=form)

    def hybrid_forward(self, F, x):
        residual = x if self.downsample is None else self.downsample(x)
        return self.attention(self.resfwd(x), residual)


def cifar_features(layers, channels, norm_layer=BatchNorm, norm_kwargs=None):
    """The ``features`` container of a CIFAR host, starting with the original's input
    normalisation ``BN(scale=False, center=False)``; checks ``channels`` against ``layers``."""
    if len(layers) != len(channels) - 1:
        raise ValueError('channels needs one entry more than layers (the stem width), got '
                         'layers=%s channels=%s' % (list(layers), list(channels)))
    features = nn.HybridSequential(prefix='')
    features.add(_norm(norm_layer, norm_kwargs, scale=False, center=False))
    return features


def add_cifar_stages(features, layers, channels, make_block):
    """Append the stages of a CIFAR ResNet-(6b+2)-style network to ``features``.

    Stage ``i`` (1-based) is a ``HybridSequential`` of ``layers[i-1]`` blocks
    ``make_block(i, channels[i], stride, downsample, in_channels)``: the first block of every
    stage after the first has stride 2, and a block downsamples its shortcut when its width
    changes. Returns the width of the last stage.
    """
    in_channels = channels[0]
    for i, num_blocks in enumerate(layers):
        stage = nn.HybridSequential(prefix='stage%d_' % (i + 1))
        with stage.name_scope():
            for j in range(num_blocks):
                block_in = in_channels if j == 0 else channels[i + 1]
                stage.add(make_block(i + 1, channels[i + 1], 2 if i and not j else 1,
                                     block_in != channels[i + 1], block_in))
        features.add(stage)
        in_channels = channels[i + 1]
    return in_channels


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
        Stages with a smaller (1-based) index use plain addition.
    shortcut : {'avg', 'conv'}, default 'avg'
        Shortcut projection, see :class:`CIFARResBlockV2`.
    form : {'original', 'paper'}, default 'original'
        Argument convention of the fusion.
    """

    def __init__(self, layers, channels, classes=100, fusion='aff', r=4, start_layer=1,
                 shortcut='avg', form='original', norm_layer=BatchNorm, norm_kwargs=None,
                 **kwargs):
        super(CIFARAFFResNet, self).__init__(**kwargs)
        with self.name_scope():
            self.features = cifar_features(layers, channels, norm_layer, norm_kwargs)
            self.features.add(nn.Conv2D(channels[0], 3, 1, 1, use_bias=False))

            def block(stage_index, out_channels, stride, downsample, in_channels):
                stage_fusion = fusion if stage_index >= start_layer else 'add'
                return CIFARResBlockV2(stage_fusion, out_channels, stride, downsample,
                                       in_channels, r=r, shortcut=shortcut, form=form,
                                       norm_layer=norm_layer, norm_kwargs=norm_kwargs)
            in_channels = add_cifar_stages(self.features, layers, channels, block)
            add_preact_head(self.features, norm_layer, norm_kwargs)
            self.output = nn.Dense(classes, in_units=in_channels)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))
