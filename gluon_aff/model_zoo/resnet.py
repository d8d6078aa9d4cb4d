"""The bottleneck host: ResNet-50 v1b and ResNeXt-50 (ImageNet) and the CIFAR ResNeXt, one network.

Every block is ``1x1 - grouped 3x3(stride) - 1x1`` (width ``cardinality * floor(C * width / 64)``;
ResNet v1b is cardinality 1, width 64; ResNeXt-32x4d is cardinality 32, width 4), whose output
is fused with the shortcut by a registry fusion (r = 16, hard-coded in the original), then ReLU.
The stem, shortcut and stage builders are the shared ones of :mod:`.common`.

The original code saved the two architectures under two layouts, which are their checkpoint keys
and which :class:`BottleneckResNet` reproduces with ``layout=``:

* ``'resnet'`` (open-aff ``AFFResNet`` / ``ResNet50_v1bASKC``): ``conv1``, ``bn1``,
  ``layer1..4``, ``fc``; blocks ``conv1..3``, ``bn1..3``, ``downsample``, ``attention``;
* ``'resnext'`` (open-aff ``AFFResNeXt`` / ``ResNextASKC`` / ``CIFARAFFResNeXt`` /
  ``CIFARResNextASKC``): ``features`` (stem, stages, pooling) and ``output``; blocks ``body``,
  ``downsample``, ``attention``.

:class:`AFFResNet` and the ResNeXt classes of :mod:`.resnext` are this host with the defaults of
the original classes.
"""
from __future__ import division

import math

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from mxnet.gluon.nn import BatchNorm

from ..nn.fusion import build_fusion
from .common import (ImageNetwork, deep_stem_layers, fusion_for_stage, make_norm as _norm,
                     make_shortcut, make_stages)

__all__ = ['AFFBottleneck', 'AFFResNeXtBlock', 'BottleneckResNet', 'AFFResNet', 'LAYOUTS',
           'RESNET_DEPTHS']

#: checkpoint layouts of :class:`BottleneckResNet`
LAYOUTS = ('resnet', 'resnext')

#: blocks per stage of the ImageNet depths the original offers (``--num-layer``)
RESNET_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 4, 36, 3)}


def _bottleneck_layers(channels, cardinality, bottleneck_width, stride, zero_last_gamma,
                       norm_layer, norm_kwargs):
    """``[conv1x1, BN, ReLU, grouped conv3x3(stride), BN, ReLU, conv1x1(4C), BN]``."""
    width = cardinality * int(math.floor(channels * (bottleneck_width / 64)))
    gamma = {'gamma_initializer': 'zeros'} if zero_last_gamma else {}
    return [nn.Conv2D(width, kernel_size=1, use_bias=False),
            _norm(norm_layer, norm_kwargs, in_channels=width), nn.Activation('relu'),
            nn.Conv2D(width, kernel_size=3, strides=stride, padding=1, groups=cardinality,
                      use_bias=False),
            _norm(norm_layer, norm_kwargs, in_channels=width), nn.Activation('relu'),
            nn.Conv2D(channels * 4, kernel_size=1, use_bias=False),
            _norm(norm_layer, norm_kwargs, in_channels=channels * 4, **gamma)]


class _FusedBottleneck(HybridBlock):
    """``ReLU(attention(branch(x), shortcut(x)))``; subclasses lay the branch out."""
    expansion = 4

    def _branch(self, F, x):
        raise NotImplementedError

    def hybrid_forward(self, F, x):
        residual = x if self.downsample is None else self.downsample(x)
        return F.Activation(self.attention(self._branch(F, x), residual), act_type='relu')


class AFFBottleneck(_FusedBottleneck):
    """Bottleneck ``1x1 - 3x3(stride) - 1x1`` fused with its shortcut, then ReLU; ResNet v1b layout
    (``conv1..3``, ``bn1..3``, ``downsample``, ``attention``).

    Parameters
    ----------
    fusion : str, block class or callable
        The fusion (see :func:`gluon_aff.nn.build_fusion`).
    planes : int
        Base width C; the block outputs ``4 * C``.
    strides : int, default 1
    downsample : HybridBlock or None
        Shortcut projection.
    zero_last_gamma : bool, default False
        Initialise the gamma of ``bn3`` to zero.
    r : int, default 16
        Reduction ratio of the fusion (hard-coded 16 in the original).
    form : {'original', 'paper'}
    cardinality : int, default 1
        Groups of the 3x3 convolution.
    bottleneck_width : int, default 64
        Width of each group per 64 base channels (``1, 64``: ResNet v1b).
    """

    def __init__(self, fusion, planes, strides=1, downsample=None, zero_last_gamma=False, r=16,
                 form='original', cardinality=1, bottleneck_width=64, norm_layer=BatchNorm,
                 norm_kwargs=None, **kwargs):
        super(AFFBottleneck, self).__init__(**kwargs)
        (self.conv1, self.bn1, _, self.conv2, self.bn2, _, self.conv3, self.bn3) = \
            _bottleneck_layers(planes, cardinality, bottleneck_width, strides, zero_last_gamma,
                               norm_layer, norm_kwargs)
        self.downsample = downsample
        self.attention = build_fusion(fusion, planes * 4, r=r, form=form)

    def _branch(self, F, x):
        out = F.Activation(self.bn1(self.conv1(x)), act_type='relu')
        out = F.Activation(self.bn2(self.conv2(out)), act_type='relu')
        return self.bn3(self.conv3(out))


class AFFResNeXtBlock(_FusedBottleneck):
    """The same bottleneck in the ResNeXt layout (``body``, ``downsample``, ``attention``).

    Parameters
    ----------
    fusion : str, block class or callable
        The fusion (see :func:`gluon_aff.nn.build_fusion`).
    channels : int
        Base width C; the block outputs ``4 * C``.
    cardinality : int
        Number of groups.
    bottleneck_width : int
        Width of each group per 64 base channels.
    stride : int
        Stride of the grouped convolution.
    downsample : HybridBlock or None
        Shortcut projection (see :func:`~gluon_aff.model_zoo.common.make_shortcut`).
    zero_last_gamma : bool, default False
        Initialise the gamma of the last BN to zero.
    r : int, default 16
        Reduction ratio of the fusion.
    form : {'original', 'paper'}
        Argument convention of the fusion.
    """

    def __init__(self, fusion, channels, cardinality, bottleneck_width, stride, downsample=None,
                 zero_last_gamma=False, r=16, form='original', norm_layer=BatchNorm,
                 norm_kwargs=None, **kwargs):
        super(AFFResNeXtBlock, self).__init__(**kwargs)
        self.body = nn.HybridSequential(prefix='')
        self.body.add(*_bottleneck_layers(channels, cardinality, bottleneck_width, stride,
                                          zero_last_gamma, norm_layer, norm_kwargs))
        self.downsample = downsample
        self.attention = build_fusion(fusion, channels * 4, r=r, form=form)

    def _branch(self, F, x):
        return self.body(x)


class BottleneckResNet(ImageNetwork):
    """Bottleneck ResNet/ResNeXt with attentional feature fusion in its blocks.

    ``stem - BN - ReLU [- MaxPool] - stages - GAP - Dense``. Stage ``i`` has base width
    ``base_width * 2**(i-1)`` and outputs 4 times that.

    Parameters
    ----------
    layers : list of int
        Blocks per stage, ``[3, 4, 6, 3]`` for depth 50.
    cardinality : int, default 1
        Groups of the 3x3 convolutions (32 for ResNeXt-32x4d).
    bottleneck_width : int, default 64
        Width of each group per 64 base channels (4 for ResNeXt-32x4d).
    classes : int, default 1000
    fusion : str, default 'aff'
        Registry tag of the fusion (or a block class / callable); ``'add'``: the plain baseline.
    r : int, default 16
    start_layer : int, default 3
        Fusion only from this stage on; earlier stages add (both ImageNet versions: 3).
    stem_channels : int, default 64
        Output channels of the stem.
    deep_stem : bool, default True
        Three 3x3 convolutions (``C/2, C/2, C``) instead of a single convolution.
    imagenet_stem : bool, default True
        The first convolution has stride 2 (a 7x7 one without ``deep_stem``) and a 3x3 max-pool
        follows; False: a stride-1 3x3 stem without pooling (CIFAR).
    base_width : int, default 64
        Base width of stage 1.
    avg_down : bool, default True
        Average-pool before the shortcut projection instead of a strided 1x1 convolution.
    first_avg_down : bool, default True
        ``avg_down`` also in stage 1 (a 1x1 pool; the original ``AFFResNet`` and
        ``CIFARAFFResNeXt`` do, the ImageNet ``AFFResNeXt`` does not).
    last_gamma : bool, default False
        Zero-initialise the gamma of each block's last BN.
    form : {'original', 'paper'}, default 'original'
    layout : {'resnet', 'resnext'}, default 'resnet'
        Attribute names, i.e. checkpoint keys (see the module docstring).
    """

    def __init__(self, layers, cardinality=1, bottleneck_width=64, classes=1000, fusion='aff',
                 r=16, start_layer=3, stem_channels=64, deep_stem=True, imagenet_stem=True,
                 base_width=64, avg_down=True, first_avg_down=True, last_gamma=False,
                 form='original', layout='resnet', norm_layer=BatchNorm, norm_kwargs=None,
                 **kwargs):
        super(BottleneckResNet, self).__init__(**kwargs)
        if layout not in LAYOUTS:
            raise ValueError('layout must be one of %s, got %r' % (LAYOUTS, layout))
        resnet = layout == 'resnet'

        def block(stage_index, out_channels, stride, downsample, in_channels):
            channels = out_channels // 4
            shortcut = None
            if downsample:
                shortcut = make_shortcut(
                    out_channels, stride, avg_down and (stage_index > 1 or first_avg_down),
                    norm_layer=norm_layer, norm_kwargs=norm_kwargs,
                    prefix='down%d_' % stage_index if resnet else '')
            fusion_i = fusion_for_stage(stage_index, start_layer, fusion)
            if resnet:
                return AFFBottleneck(fusion_i, channels, stride, shortcut, last_gamma, r, form,
                                     cardinality, bottleneck_width, norm_layer, norm_kwargs)
            return AFFResNeXtBlock(fusion_i, channels, cardinality, bottleneck_width, stride,
                                   shortcut, last_gamma, r, form, norm_layer, norm_kwargs,
                                   prefix='')

        widths = [base_width * 2 ** i * 4 for i in range(len(layers))]
        with self.name_scope():
            stride = 2 if imagenet_stem else 1
            if deep_stem:
                stem = deep_stem_layers(stem_channels, stride, norm_layer, norm_kwargs)
            else:
                kernel = 7 if imagenet_stem else 3
                stem = [nn.Conv2D(stem_channels, kernel, stride, kernel // 2, use_bias=False)]
            head = [_norm(norm_layer, norm_kwargs, in_channels=stem_channels),
                    nn.Activation('relu')]
            if imagenet_stem:
                head.append(nn.MaxPool2D(pool_size=3, strides=2, padding=1))
            if resnet:
                if deep_stem:
                    self.conv1 = nn.HybridSequential(prefix='conv1')
                    self.conv1.add(*stem)
                else:
                    self.conv1 = stem[0]
                self.bn1, self.relu = head[:2]
                if imagenet_stem:
                    self.maxpool = head[2]
                stages, out_channels = make_stages(layers, widths, stem_channels, block,
                                                   prefix='layers%d_')
                for i, stage in enumerate(stages):
                    setattr(self, 'layer%d' % (i + 1), stage)
                self.avgpool = nn.GlobalAvgPool2D()
                self.flat = nn.Flatten()
                self.fc = nn.Dense(classes, in_units=out_channels)
            else:
                self.features = nn.HybridSequential(prefix='')
                self.features.add(*(stem + head))
                stages, out_channels = make_stages(layers, widths, stem_channels, block)
                self.features.add(*stages)
                self.features.add(nn.GlobalAvgPool2D())
                self.output = nn.Dense(classes, in_units=out_channels)
        # the registered children in forward order (the layouts differ only in their names)
        self._sequence = list(self._children.values())

    def hybrid_forward(self, F, x):
        for child in self._sequence:
            x = child(x)
        return x


class AFFResNet(BottleneckResNet):
    """ImageNet ResNet v1b with attentional feature fusion (open-aff ``AFFResNet``): the
    bottleneck host with cardinality 1 in the ``resnet`` layout.

    Parameters
    ----------
    layers : list of int
        Blocks per stage, ``[3, 4, 6, 3]`` for ResNet-50 (see :data:`RESNET_DEPTHS`).
    classes : int, default 1000
    fusion : str, default 'aff'
        Registry tag of the fusion; ``'add'`` gives the plain ResNet baseline.
    r : int, default 16
    start_layer : int, default 3
        Fusion only from this stage on; earlier stages add (both open-aff versions: 3).
    deep_stem : bool, default True
        Three 3x3 convs (32-32-64) instead of the 7x7 conv (paper version: False).
    stem_width : int, default 32
        Width of the deep stem's first convolutions (its output is twice that).
    avg_down : bool, default True
        Average-pool before the shortcut projection instead of a strided 1x1 conv.
    last_gamma : bool, default False
        Zero-initialise the gamma of each block's last BN (both versions' recipes set it).
    form : {'original', 'paper'}, default 'original'
    """

    def __init__(self, layers, classes=1000, fusion='aff', r=16, start_layer=3, deep_stem=True,
                 stem_width=32, avg_down=True, last_gamma=False, form='original',
                 norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        super(AFFResNet, self).__init__(
            layers, classes=classes, fusion=fusion, r=r, start_layer=start_layer,
            stem_channels=stem_width * 2 if deep_stem else 64, deep_stem=deep_stem,
            avg_down=avg_down, last_gamma=last_gamma, form=form, layout='resnet',
            norm_layer=norm_layer, norm_kwargs=norm_kwargs, **kwargs)
