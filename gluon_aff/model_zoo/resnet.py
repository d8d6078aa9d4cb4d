"""ImageNet ResNet-50 (v1b) host with attentional feature fusion.

Bottleneck v1b blocks (stride on the 3x3 conv) whose output is fused with the shortcut by a
registry fusion (r = 16), then ReLU. Layout (``conv1``, ``bn1``, ``layer1..4``, ``fc``) and names
follow open-aff's ``AFFResNet`` (final: deep stem, average-pool shortcuts, fusion in stages 3-4)
and ``ResNet50_v1bASKC`` (paper: 7x7 stem, strided-conv shortcuts) so their checkpoints load.
"""
from __future__ import division

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from mxnet.gluon.nn import BatchNorm

from ..nn.fusion import build_fusion
from .common import ImageNetwork

__all__ = ['AFFBottleneck', 'AFFResNet']


class AFFBottleneck(HybridBlock):
    """ResNet v1b bottleneck ``1x1 - 3x3(stride) - 1x1`` fused with its shortcut, then ReLU.

    Parameters
    ----------
    fusion : str
        Registry tag of the fusion.
    planes : int
        Bottleneck width; the block outputs ``4 * planes``.
    strides : int, default 1
    downsample : HybridBlock or None
        Shortcut projection.
    zero_last_gamma : bool, default False
        Initialise the gamma of ``bn3`` to zero (GluonCV's ``last_gamma``).
    r : int, default 16
        Reduction ratio of the fusion (hard-coded 16 in the original).
    form : {'original', 'paper'}
    """
    expansion = 4

    def __init__(self, fusion, planes, strides=1, downsample=None, zero_last_gamma=False, r=16,
                 form='original', norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        super(AFFBottleneck, self).__init__(**kwargs)
        norm_kwargs = norm_kwargs or {}
        self.conv1 = nn.Conv2D(planes, kernel_size=1, use_bias=False)
        self.bn1 = norm_layer(in_channels=planes, **norm_kwargs)
        self.conv2 = nn.Conv2D(planes, kernel_size=3, strides=strides, padding=1, use_bias=False)
        self.bn2 = norm_layer(in_channels=planes, **norm_kwargs)
        self.conv3 = nn.Conv2D(planes * 4, kernel_size=1, use_bias=False)
        gamma = {'gamma_initializer': 'zeros'} if zero_last_gamma else {}
        self.bn3 = norm_layer(in_channels=planes * 4, **dict(norm_kwargs, **gamma))
        self.downsample = downsample
        self.attention = build_fusion(fusion, planes * 4, r=r, form=form)

    def hybrid_forward(self, F, x):
        out = F.Activation(self.bn1(self.conv1(x)), act_type='relu')
        out = F.Activation(self.bn2(self.conv2(out)), act_type='relu')
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return F.Activation(self.attention(out, residual), act_type='relu')


class AFFResNet(ImageNetwork):
    """ImageNet ResNet-50 v1b with attentional feature fusion (open-aff ``AFFResNet``).

    Parameters
    ----------
    layers : list of int
        Blocks per stage, ``[3, 4, 6, 3]`` for ResNet-50.
    classes : int, default 1000
    fusion : str, default 'aff'
        Registry tag of the fusion; ``'add'`` gives the plain ResNet-50 baseline.
    r : int, default 16
    start_layer : int, default 3
        Fusion only from this stage on; earlier stages add (both open-aff versions: 3).
    deep_stem : bool, default True
        Three 3x3 convs (32-32-64) instead of the 7x7 conv (paper version: False).
    stem_width : int, default 32
    avg_down : bool, default True
        Average-pool before the shortcut projection instead of a strided 1x1 conv.
    last_gamma : bool, default False
        Zero-initialise the gamma of each block's last BN (the final recipe sets it).
    form : {'original', 'paper'}, default 'original'
    """

    def __init__(self, layers, classes=1000, fusion='aff', r=16, start_layer=3, deep_stem=True,
                 stem_width=32, avg_down=True, last_gamma=False, form='original',
                 norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        super(AFFResNet, self).__init__(**kwargs)
        norm_kwargs = norm_kwargs or {}
        stem_out = stem_width * 2 if deep_stem else 64
        with self.name_scope():
            if deep_stem:
                self.conv1 = nn.HybridSequential(prefix='conv1')
                self.conv1.add(nn.Conv2D(stem_width, 3, 2, 1, use_bias=False))
                self.conv1.add(norm_layer(in_channels=stem_width, **norm_kwargs))
                self.conv1.add(nn.Activation('relu'))
                self.conv1.add(nn.Conv2D(stem_width, 3, 1, 1, use_bias=False))
                self.conv1.add(norm_layer(in_channels=stem_width, **norm_kwargs))
                self.conv1.add(nn.Activation('relu'))
                self.conv1.add(nn.Conv2D(stem_out, 3, 1, 1, use_bias=False))
            else:
                self.conv1 = nn.Conv2D(64, 7, 2, 3, use_bias=False)
            self.bn1 = norm_layer(in_channels=stem_out, **norm_kwargs)
            self.relu = nn.Activation('relu')
            self.maxpool = nn.MaxPool2D(pool_size=3, strides=2, padding=1)
            in_channels = stem_out
            for i, num_blocks in enumerate(layers):
                planes = 64 * 2 ** i
                stage = nn.HybridSequential(prefix='layers%d_' % (i + 1))
                with stage.name_scope():
                    for j in range(num_blocks):
                        strides = 2 if i and not j else 1
                        downsample = None
                        if j == 0 and (strides != 1 or in_channels != planes * 4):
                            downsample = nn.HybridSequential(prefix='down%d_' % (i + 1))
                            if avg_down:
                                downsample.add(nn.AvgPool2D(strides, strides, ceil_mode=True,
                                                            count_include_pad=False))
                            downsample.add(nn.Conv2D(planes * 4, kernel_size=1,
                                                     strides=1 if avg_down else strides,
                                                     use_bias=False))
                            downsample.add(norm_layer(in_channels=planes * 4, **norm_kwargs))
                        stage.add(AFFBottleneck(
                            fusion if i + 1 >= start_layer else 'add', planes, strides,
                            downsample, zero_last_gamma=last_gamma, r=r, form=form,
                            norm_layer=norm_layer, norm_kwargs=norm_kwargs))
                in_channels = planes * 4
                setattr(self, 'layer%d' % (i + 1), stage)
            self.avgpool = nn.GlobalAvgPool2D()
            self.flat = nn.Flatten()
            self.fc = nn.Dense(classes, in_units=in_channels)

    def hybrid_forward(self, F, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flat(self.avgpool(x)))
