"""ResNeXt hosts (CIFAR and ImageNet) with a fusion joining each block's branch and shortcut.

`Aggregated Residual Transformations <http://arxiv.org/abs/1611.05431>`_ blocks as GluonCV builds
them, with the shortcut addition replaced by a registry fusion (r = 16, hard-coded in the
original) and a ReLU after it. Layouts follow open-aff's ``CIFARAFFResNeXt`` / ``AFFResNeXt``
(final) and ``CIFARResNextASKC`` / ``ResNextASKC`` (paper), so their checkpoints load.
"""
from __future__ import division

import math

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from mxnet.gluon.nn import BatchNorm

from ..nn.fusion import build_fusion
from .common import ImageNetwork, make_norm as _norm

__all__ = ['AFFResNeXtBlock', 'CIFARAFFResNeXt', 'AFFResNeXt']



class AFFResNeXtBlock(HybridBlock):
    """ResNeXt bottleneck ``1x1 - grouped 3x3 - 1x1`` whose output is fused with the shortcut.

    Parameters
    ----------
    fusion : str
        Registry tag of the fusion.
    channels : int
        Base width; the block outputs ``4 * channels``.
    cardinality : int
        Number of groups.
    bottleneck_width : int
        Width of each group per 64 base channels.
    stride : int
        Stride of the grouped convolution.
    downsample : bool
        Project the shortcut with ``[AvgPool] - conv1x1 - BN``.
    avg_down : bool
        Average-pool (``stride``, ceil mode) before the projection instead of a strided conv.
    zero_last_gamma : bool
        Initialise the gamma of the last BN to zero.
    r : int, default 16
        Reduction ratio of the fusion.
    form : {'original', 'paper'}
        Argument convention of the fusion.
    """

    def __init__(self, fusion, channels, cardinality, bottleneck_width, stride, downsample=False,
                 avg_down=False, zero_last_gamma=False, r=16, form='original',
                 norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        super(AFFResNeXtBlock, self).__init__(**kwargs)
        group_width = cardinality * int(math.floor(channels * (bottleneck_width / 64)))
        self.body = nn.HybridSequential(prefix='')
        self.body.add(nn.Conv2D(group_width, kernel_size=1, use_bias=False))
        self.body.add(_norm(norm_layer, norm_kwargs))
        self.body.add(nn.Activation('relu'))
        self.body.add(nn.Conv2D(group_width, kernel_size=3, strides=stride, padding=1,
                                groups=cardinality, use_bias=False))
        self.body.add(_norm(norm_layer, norm_kwargs))
        self.body.add(nn.Activation('relu'))
        self.body.add(nn.Conv2D(channels * 4, kernel_size=1, use_bias=False))
        self.body.add(_norm(norm_layer, norm_kwargs,
                            **({'gamma_initializer': 'zeros'} if zero_last_gamma else {})))
        self.downsample = None
        if downsample:
            self.downsample = nn.HybridSequential(prefix='')
            if avg_down:
                self.downsample.add(nn.AvgPool2D(pool_size=stride, strides=stride,
                                                 ceil_mode=True, count_include_pad=False))
                stride = 1
            self.downsample.add(nn.Conv2D(channels * 4, kernel_size=1, strides=stride,
                                          use_bias=False))
            self.downsample.add(_norm(norm_layer, norm_kwargs))
        self.attention = build_fusion(fusion, channels * 4, r=r, form=form)

    def hybrid_forward(self, F, x):
        residual = x if self.downsample is None else self.downsample(x)
        return F.Activation(self.attention(self.body(x), residual), act_type='relu')


class _ResNeXtBase(ImageNetwork):
    """``features`` (stem, stages, GAP) + ``output`` Dense, shared by both ResNeXt hosts."""

    def _add_stages(self, layers, channels, cardinality, bottleneck_width, fusion, r,
                    start_layer, form, last_gamma, avg_down, first_stage_avg_down, norm_layer,
                    norm_kwargs):
        for i, num_blocks in enumerate(layers):
            stage_fusion = fusion if i + 1 >= start_layer else 'add'
            stride = 1 if i == 0 else 2
            stage_avg_down = avg_down and (i > 0 or first_stage_avg_down)
            stage = nn.HybridSequential(prefix='stage%d_' % (i + 1))
            with stage.name_scope():
                for j in range(num_blocks):
                    # the original initialises the last gamma to zero when last_gamma is False
                    stage.add(AFFResNeXtBlock(
                        stage_fusion, channels, cardinality, bottleneck_width,
                        stride if j == 0 else 1, downsample=j == 0, avg_down=stage_avg_down,
                        zero_last_gamma=not last_gamma, r=r, form=form, norm_layer=norm_layer,
                        norm_kwargs=norm_kwargs, prefix=''))
            self.features.add(stage)
            channels *= 2
        self.features.add(nn.GlobalAvgPool2D())

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


class CIFARAFFResNeXt(_ResNeXtBase):
    """CIFAR ResNeXt-(9b+2)-32x4d with a fusion in every block (open-aff ``CIFARAFFResNeXt``).

    ``conv3x3(64) - BN - ReLU - 3 stages (64, 128, 256 base width) - GAP - Dense``.

    Parameters
    ----------
    layers : list of int
        Blocks per stage: ``[4, 4, 4]`` gives ResNeXt-38, ``[5, 5, 5]`` ResNeXt-47.
    cardinality : int, default 32
    bottleneck_width : int, default 4
    classes : int, default 100
    fusion : str, default 'aff'
    r : int, default 16
        Reduction ratio (hard-coded 16 in the original ResNeXt blocks).
    start_layer : int, default 1
    avg_down : bool, default True
        ``True``: shortcuts average-pool then project (final open-aff, including the first
        stage with a 1x1 pool); ``False``: strided 1x1 conv (paper-version open-aff).
    last_gamma : bool, default False
        Original flag, inverted as in the original: ``False`` zero-initialises the last BN gamma.
    form : {'original', 'paper'}, default 'original'
    """

    def __init__(self, layers, cardinality=32, bottleneck_width=4, classes=100, fusion='aff',
                 r=16, start_layer=1, stem_width=64, avg_down=True, last_gamma=False,
                 form='original', norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        super(CIFARAFFResNeXt, self).__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix='')
            self.features.add(nn.Conv2D(stem_width, 3, 1, 1, use_bias=False))
            self.features.add(_norm(norm_layer, norm_kwargs))
            self.features.add(nn.Activation('relu'))
            self._add_stages(layers, stem_width, cardinality, bottleneck_width, fusion, r,
                             start_layer, form, last_gamma, avg_down, True, norm_layer,
                             norm_kwargs)
            self.output = nn.Dense(classes)


class AFFResNeXt(_ResNeXtBase):
    """ImageNet ResNeXt-50-32x4d with attentional feature fusion (open-aff ``AFFResNeXt``).

    Parameters
    ----------
    layers : list of int
        Blocks per stage, ``[3, 4, 6, 3]`` for ResNeXt-50.
    cardinality : int, default 32
    bottleneck_width : int, default 4
    classes : int, default 1000
    fusion : str, default 'aff'
    r : int, default 16
    start_layer : int, default 3
        Fusion only from this stage on (final open-aff: stages 3 and 4).
    deep_stem : bool, default True
        Three 3x3 convs (64-64-128) + BN-ReLU instead of the 7x7 conv (paper version: False).
    avg_down : bool, default True
        Average-pool before the shortcut projection from stage 2 on (paper version: False).
    last_gamma : bool, default False
        Original flag, inverted as in the original: ``False`` zero-initialises the last BN gamma.
    form : {'original', 'paper'}, default 'original'
    """

    def __init__(self, layers, cardinality=32, bottleneck_width=4, classes=1000, fusion='aff',
                 r=16, start_layer=3, deep_stem=True, stem_width=64, avg_down=True,
                 last_gamma=False, form='original', norm_layer=BatchNorm, norm_kwargs=None,
                 **kwargs):
        super(AFFResNeXt, self).__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix='')
            if deep_stem:
                self.features.add(nn.Conv2D(stem_width, 3, 2, 1, use_bias=False))
                self.features.add(_norm(norm_layer, norm_kwargs))
                self.features.add(nn.Activation('relu'))
                self.features.add(nn.Conv2D(stem_width, 3, 1, 1, use_bias=False))
                self.features.add(_norm(norm_layer, norm_kwargs))
                self.features.add(nn.Activation('relu'))
                self.features.add(nn.Conv2D(stem_width * 2, 3, 1, 1, use_bias=False))
            else:
                self.features.add(nn.Conv2D(64, 7, 2, 3, use_bias=False))
            self.features.add(_norm(norm_layer, norm_kwargs))
            self.features.add(nn.Activation('relu'))
            self.features.add(nn.MaxPool2D(3, 2, 1))
            self._add_stages(layers, 64, cardinality, bottleneck_width, fusion, r, start_layer,
                             form, last_gamma, avg_down, False, norm_layer, norm_kwargs)
            self.output = nn.Dense(classes)
