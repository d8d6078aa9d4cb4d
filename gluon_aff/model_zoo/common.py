"""The skeleton shared by every host network of the zoo.

One rule for which stages fuse (:func:`fusion_for_stage`), one projection shortcut
(:func:`make_shortcut`), one deep stem (:func:`deep_stem_layers`) and one stage builder
(:func:`make_stages`); the hosts (CIFAR pre-activation ResNet, the bottleneck ResNet/ResNeXt,
Inception-ResNet, FPN) only choose their blocks and lay the pieces out under the attribute names
of the original code, which are its checkpoint keys.
"""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

__all__ = ['make_norm', 'ImageNetwork', 'fusion_for_stage', 'make_shortcut', 'deep_stem_layers',
           'make_stages']


def make_norm(norm_layer, norm_kwargs, **extra):
    """``norm_layer(**norm_kwargs, **extra)`` (``norm_kwargs`` may be None)."""
    kwargs = dict(norm_kwargs or {})
    kwargs.update(extra)
    return norm_layer(**kwargs)


def fusion_for_stage(stage_index, start_layer, fusion):
    """The fusion of stage ``stage_index`` (1-based): ``fusion`` from ``start_layer`` on, plain
    addition before (the original sets ``askc_type = 'DirectAdd'`` below ``start_layer``)."""
    return fusion if stage_index >= start_layer else 'add'


def make_shortcut(channels, stride, avg_down, in_channels=0, norm_layer=None, norm_kwargs=None,
                  prefix=''):
    """Projection shortcut ``[AvgPool] - conv1x1(channels) [- BN]`` of a block's raw input.

    ``avg_down``: ``AvgPool(stride, ceil_mode=True, count_include_pad=False)`` then a stride-1
    conv (a 1x1 pool when ``stride`` is 1, as the original builds it); otherwise a strided conv.
    ``norm_layer=None``: no BN (the CIFAR pre-activation blocks).
    """
    shortcut = nn.HybridSequential(prefix=prefix)
    if avg_down:
        shortcut.add(nn.AvgPool2D(pool_size=stride, strides=stride, ceil_mode=True,
                                  count_include_pad=False))
        stride = 1
    shortcut.add(nn.Conv2D(channels, kernel_size=1, strides=stride, use_bias=False,
                           in_channels=in_channels))
    if norm_layer is not None:
        shortcut.add(make_norm(norm_layer, norm_kwargs, in_channels=channels))
    return shortcut


def deep_stem_layers(channels, stride, norm_layer, norm_kwargs=None):
    """The layers of a deep stem: ``conv3x3(C/2, stride) - BN - ReLU - conv3x3(C/2) - BN - ReLU -
    conv3x3(C)`` (Bag of Tricks' ResNet-C), as a list: hosts nest or flatten it as their
    checkpoints do."""
    if channels % 2:
        raise ValueError('a deep stem needs an even width, got %d' % channels)
    width = channels // 2
    return [nn.Conv2D(width, 3, stride, 1, use_bias=False),
            make_norm(norm_layer, norm_kwargs, in_channels=width), nn.Activation('relu'),
            nn.Conv2D(width, 3, 1, 1, use_bias=False),
            make_norm(norm_layer, norm_kwargs, in_channels=width), nn.Activation('relu'),
            nn.Conv2D(channels, 3, 1, 1, use_bias=False)]


def make_stages(layers, widths, in_channels, make_block, prefix='stage%d_'):
    """The stages of a ResNet-style host: one ``HybridSequential`` per entry of ``layers``.

    Stage ``i`` (1-based) holds ``layers[i-1]`` blocks ``make_block(i, widths[i-1], stride,
    downsample, block_in)``: the first block of every stage after the first has stride 2, and a
    block projects its shortcut (``downsample``) when its stride or width changes.

    Returns
    -------
    (list of HybridSequential, int)
        The stages and the output width of the last one.
    """
    if len(widths) != len(layers):
        raise ValueError('one width per stage needed, got layers=%s widths=%s'
                         % (list(layers), list(widths)))
    stages = []
    for i, (num_blocks, width) in enumerate(zip(layers, widths)):
        stage = nn.HybridSequential(prefix=prefix % (i + 1))
        with stage.name_scope():
            for j in range(num_blocks):
                stride = 2 if i and not j else 1
                stage.add(make_block(i + 1, width, stride, stride != 1 or in_channels != width,
                                     in_channels))
                in_channels = width
        stages.append(stage)
    return stages, in_channels


class ImageNetwork(HybridBlock):
    """A host network taking an ``(N, C, H, W)`` image batch.

    Imperative calls are checked before MXNet sees them, so a wrong input gives a
    ``ValueError`` naming the shape instead of an error from deep inside shape inference: the
    input must be 4-D and keep the channel count of the first call (which fixes the stem's
    deferred input channels). Symbolic calls (hybridized graphs, export) are not affected.
    """

    def __call__(self, x, *args):
        shape = getattr(x, 'shape', None)
        if shape is not None:
            if len(shape) != 4:
                raise ValueError('%s expects an (N, C, H, W) image batch, got shape %s'
                                 % (type(self).__name__, shape))
            channels = getattr(self, '_input_channels', None)
            if channels is None:
                self._input_channels = shape[1]
            elif shape[1] != channels:
                raise ValueError('%s was built for %d input channels (its first input), got '
                                 'shape %s' % (type(self).__name__, channels, shape))
        return super(ImageNetwork, self).__call__(x, *args)
