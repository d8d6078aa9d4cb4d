"""ResNet-20-b + FPN for semantic segmentation: long-skip fusion (paper Sec. 4.3, Fig. 3, Table 2).

The paper's FPN column of Tables 3 and 4 (StopSign segmentation) replaces the addition of every
top-down merge of a feature pyramid with a fusion. Nothing of this host exists in the original
code; it is built here from the paper:

* backbone: the paper-version CIFAR ResNet-20-b (pre-activation blocks, widths 16-16-32-64,
  ``b`` blocks per stage, strided 1x1-conv shortcuts, short skips fused by plain addition), i.e.
  the stem and stages of :class:`~gluon_aff.model_zoo.CIFARAFFResNet` built from the same
  :class:`~gluon_aff.model_zoo.CIFARResBlockV2`, under the same structural names ``features.*``;
* top-down pathway (Fig. 3, AFF-FPN): starting from the last stage, the coarser map ``Y`` is
  upsampled x2 (red lines) and fused with the lateral map ``X`` of the next finer stage, whose
  channels are expanded to the pyramid width by a 1x1 convolution (blue lines):
  ``P_k = fuse(up(P_{k+1}), lateral_k(C_k))`` - ``fuse(Y, X)`` as everywhere in this package;
* head at the input resolution (the CIFAR stem does not downsample, so the finest level already
  has it): ``BN - ReLU - conv1x1(classes)``, the pre-activation classifier head applied per pixel.

Choices the paper leaves open (defaults, and the options offering the alternatives) are listed in
``docs/segmentation.md``.
"""
from __future__ import division

from mxnet.gluon import nn
from mxnet.gluon.contrib.nn import Identity
from mxnet.gluon.nn import BatchNorm

from ..nn.fusion import build_fusion
from .cifar_resnet import SHORTCUTS, CIFARResBlockV2, cifar_features
from .common import ImageNetwork, make_norm as _norm, make_stages

__all__ = ['AFFFPNResNet', 'UPSAMPLE_MODES']

#: how the coarser pyramid level is brought to the finer level's size
UPSAMPLE_MODES = ('nearest', 'bilinear')


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
    r : int, default 4
        Reduction ratio of the fusions (Table 2).
    form : {'original', 'paper'}, default 'original'
        Argument convention of the fusions; ``'paper'`` computes ``M * X + (1 - M) * Y`` with X
        the low-level (lateral) map, paper Eq. 4.
    backbone_fusion : str, default 'add'
        Fusion of the backbone's short skips (``add``: plain ResNet-20-b).
    shortcut : {'conv', 'avg'}, default 'conv'
        Backbone shortcut projection (paper version: strided 1x1 conv).
    fpn_channels : int or None, default None
        Pyramid width; None = the last stage's width (lower levels are *expanded* to it, the blue
        lines of Fig. 3). A stage already this wide gets no lateral convolution.
    upsample : {'nearest', 'bilinear'}, default 'nearest'
        Upsampling of the coarser level (x2, cropped to the finer level's size).
    """

    def __init__(self, layers, channels, classes=2, fusion='aff', r=4, form='original',
                 backbone_fusion='add', shortcut='conv', fpn_channels=None, upsample='nearest',
                 norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        super(AFFFPNResNet, self).__init__(**kwargs)
        if len(layers) < 2:
            raise ValueError('a feature pyramid needs at least two stages, got layers=%s'
                             % (list(layers),))
        if upsample not in UPSAMPLE_MODES:
            raise ValueError('upsample must be one of %s, got %r' % (UPSAMPLE_MODES, upsample))
        if shortcut not in SHORTCUTS:
            raise ValueError('shortcut must be one of %s, got %r' % (SHORTCUTS, shortcut))
        self.upsample = upsample
        self.fpn_channels = fpn_channels = fpn_channels or channels[-1]
        with self.name_scope():
            self.features = cifar_features(layers, channels, norm_layer, norm_kwargs)
            self.features.add(nn.Conv2D(channels[0], 3, 1, 1, use_bias=False))

            def block(_, out_channels, stride, downsample, in_channels):
                return CIFARResBlockV2(backbone_fusion, out_channels, stride, downsample,
                                       in_channels, r=r, shortcut=shortcut, form=form,
                                       norm_layer=norm_layer, norm_kwargs=norm_kwargs)
            self.features.add(*make_stages(layers, channels[1:], channels[0], block)[0])
            # one lateral per stage, finest first; channel expansion where widths differ
            self.lateral = nn.HybridSequential(prefix='lateral_')
            with self.lateral.name_scope():
                for width in channels[1:]:
                    self.lateral.add(Identity() if width == fpn_channels else nn.Conv2D(
                        fpn_channels, kernel_size=1, use_bias=False, in_channels=width))
            # one fusion per top-down merge, finest first
            self.fuse = nn.HybridSequential(prefix='fuse_')
            with self.fuse.name_scope():
                for _ in range(len(layers) - 1):
                    self.fuse.add(build_fusion(fusion, fpn_channels, r=r, form=form))
            self.head = nn.HybridSequential(prefix='head_')
            with self.head.name_scope():
                self.head.add(_norm(norm_layer, norm_kwargs))
                self.head.add(nn.Activation('relu'))
                self.head.add(nn.Conv2D(classes, kernel_size=1, in_channels=fpn_channels))

    def _upsample_like(self, F, y, x):
        if self.upsample == 'bilinear':
            return F.contrib.BilinearResize2D(y, like=x, mode='like', align_corners=False)
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
        merged = self.lateral[len(levels) - 1](levels[-1])
        for k in range(len(levels) - 2, -1, -1):
            lateral = self.lateral[k](levels[k])
            merged = self.fuse[k](self._upsample_like(F, merged, lateral), lateral)
        return self.head(merged)
