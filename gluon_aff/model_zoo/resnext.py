"""ResNeXt hosts (CIFAR and ImageNet): the bottleneck host of :mod:`.resnet` in the ResNeXt layout.

`Aggregated Residual Transformations <http://arxiv.org/abs/1611.05431>`_ blocks as GluonCV builds
them, with the shortcut addition replaced by a registry fusion (r = 16, hard-coded in the
original) and a ReLU after it. Layouts follow open-aff's ``CIFARAFFResNeXt`` / ``AFFResNeXt``
(final) and ``CIFARResNextASKC`` / ``ResNextASKC`` (paper), so their checkpoints load.

``last_gamma=True`` zero-initialises the last BN gamma of each block, as everywhere in this
package. (The original ResNeXt blocks invert their flag: they zero-initialise when
``last_gamma`` is False, which every released and paper ResNeXt did; the zoo factories set
``last_gamma=True`` for them.)
"""
from __future__ import division

from mxnet.gluon.nn import BatchNorm

from .resnet import BottleneckResNet

__all__ = ['CIFARAFFResNeXt', 'AFFResNeXt']


class CIFARAFFResNeXt(BottleneckResNet):
    """CIFAR ResNeXt-(9b+2) with a fusion in every block (open-aff ``CIFARAFFResNeXt``).

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
    stem_width : int, default 64
        Width of the stem and base width of stage 1 (the original's ``channels[0]``).
    deep_stem : bool, default False
        Final open-aff ``--deep-stem``: ``conv3x3(W/2) - BN - ReLU - conv3x3(W/2) - BN - ReLU -
        conv3x3(W)`` then BN - ReLU.
    avg_down : bool, default True
        ``True``: shortcuts average-pool then project (final open-aff, including the first
        stage with a 1x1 pool); ``False``: strided 1x1 conv (paper-version open-aff).
    last_gamma : bool, default False
        Zero-initialise the gamma of each block's last BN.
    form : {'original', 'paper'}, default 'original'
    """

    def __init__(self, layers, cardinality=32, bottleneck_width=4, classes=100, fusion='aff',
                 r=16, start_layer=1, stem_width=64, deep_stem=False, avg_down=True,
                 last_gamma=False, form='original', norm_layer=BatchNorm, norm_kwargs=None,
                 **kwargs):
        super(CIFARAFFResNeXt, self).__init__(
            layers, cardinality, bottleneck_width, classes=classes, fusion=fusion, r=r,
            start_layer=start_layer, stem_channels=stem_width, deep_stem=deep_stem,
            imagenet_stem=False, base_width=stem_width, avg_down=avg_down, first_avg_down=True,
            last_gamma=last_gamma, form=form, layout='resnext', norm_layer=norm_layer,
            norm_kwargs=norm_kwargs, **kwargs)


class AFFResNeXt(BottleneckResNet):
    """ImageNet ResNeXt-32x4d with attentional feature fusion (open-aff ``AFFResNeXt``).

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
        Fusion only from this stage on (both open-aff versions: stages 3 and 4).
    deep_stem : bool, default True
        Three 3x3 convs (64-64-128) + BN-ReLU instead of the 7x7 conv (paper version: False).
    stem_width : int, default 64
        Width of the deep stem's first convolutions (its output is twice that).
    avg_down : bool, default True
        Average-pool before the shortcut projection from stage 2 on (paper version: False).
    last_gamma : bool, default False
        Zero-initialise the gamma of each block's last BN.
    form : {'original', 'paper'}, default 'original'
    """

    def __init__(self, layers, cardinality=32, bottleneck_width=4, classes=1000, fusion='aff',
                 r=16, start_layer=3, deep_stem=True, stem_width=64, avg_down=True,
                 last_gamma=False, form='original', norm_layer=BatchNorm, norm_kwargs=None,
                 **kwargs):
        super(AFFResNeXt, self).__init__(
            layers, cardinality, bottleneck_width, classes=classes, fusion=fusion, r=r,
            start_layer=start_layer, stem_channels=stem_width * 2 if deep_stem else 64,
            deep_stem=deep_stem, avg_down=avg_down, first_avg_down=False, last_gamma=last_gamma,
            form=form, layout='resnext', norm_layer=norm_layer, norm_kwargs=norm_kwargs,
            **kwargs)
