"""Pieces shared by every host network of the zoo."""
from mxnet.gluon.block import HybridBlock

__all__ = ['make_norm', 'ImageNetwork']


def make_norm(norm_layer, norm_kwargs, **extra):
    """``norm_layer(**norm_kwargs, **extra)`` (``norm_kwargs`` may be None)."""
    kwargs = dict(norm_kwargs or {})
    kwargs.update(extra)
    return norm_layer(**kwargs)


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
