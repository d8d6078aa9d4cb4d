"""GluonCV-style model zoo: ``get_model(name, **kwargs)`` and ``get_model_list()``.

Every name is one factory ``f(pretrained=False, ctx=cpu(), root='~/.mxnet/models', **kwargs)``.
Keyword arguments override the host's constructor arguments (e.g. ``classes=20``,
``fusion='iaff'``, ``form='paper'``). Two versions of the original code are covered:

* final open-aff (the released models): ``cifar_{aff,iaff}_resnet32``,
  ``cifar_{aff,iaff}_resnext{38,47}_32x4d``, ``{aff,iaff}_resnet50``, ``{aff,iaff}_resnext50_32x4d``;
* paper-version open-aff (the ablation tables): ``cifar_<tag>_resnet_b{1..4}`` for every fusion
  tag, ``cifar_aff_resnext38_32x4d_paper``, ``{aff,iaff,gg,ll}_resnet50_paper``,
  ``{aff,iaff}_resnext50_32x4d_paper``;

plus the plain baselines built by the same code (``fusion='add'``): ``cifar_add_resnet32``,
``add_resnet50``, ``add_resnet50_paper``, ``add_resnext50_32x4d``, ``add_resnext50_32x4d_paper``.
"""
import functools

from mxnet import cpu

from ..nn.fusion import FUSIONS
from .cifar_resnet import CIFARAFFResNet
from .model_store import DEFAULT_ROOT, get_model_file
from .resnet import AFFResNet
from .resnext import AFFResNeXt, CIFARAFFResNeXt

__all__ = ['get_model', 'get_model_list', 'register_model', 'get_cifar_resnet', 'get_cifar_resnext',
           'get_resnet50', 'get_resnext50', 'PAPER_BLOCKS']

#: blocks per stage of the paper's ResNet-20-b ablation family
PAPER_BLOCKS = (1, 2, 3, 4)


def _finish(net, name, pretrained, ctx, root):
    if pretrained:
        net.load_parameters(get_model_file(name, root=root), ctx=ctx)
    return net


def get_cifar_resnet(fusion='aff', blocks=5, version='final', pretrained=False, ctx=cpu(),
                     root=DEFAULT_ROOT, name=None, **kwargs):
    """CIFAR pre-activation ResNet-(6b+2) host (:class:`CIFARAFFResNet`).

    Parameters
    ----------
    fusion : str, default 'aff'
        Registry tag of the fusion.
    blocks : int, default 5
        Blocks per stage ``b``.
    version : {'final', 'paper'}
        ``'final'``: widths 64-64-128-256 and average-pool shortcuts (open-aff's ResNet-32);
        ``'paper'``: widths 16-16-32-64 and strided-conv shortcuts (``ResNet-20-b``).
    pretrained : bool, default False
        Load ``{name}-XXXXXXXX.params`` from ``root``.
    """
    if version not in ('final', 'paper'):
        raise ValueError("version must be 'final' or 'paper', got %r" % (version,))
    args = dict(layers=[blocks] * 3, classes=100, fusion=fusion, r=4, start_layer=1)
    if version == 'final':
        args.update(channels=[64, 64, 128, 256], shortcut='avg')
    else:
        args.update(channels=[16, 16, 32, 64], shortcut='conv')
    args.update(kwargs)
    return _finish(CIFARAFFResNet(**args), name, pretrained, ctx, root)


def get_cifar_resnext(fusion='aff', blocks=4, version='final', pretrained=False, ctx=cpu(),
                      root=DEFAULT_ROOT, name=None, **kwargs):
    """CIFAR ResNeXt-(9b+2)-32x4d host (:class:`CIFARAFFResNeXt`); ``version`` picks the
    shortcut: average-pool (final) or strided conv (paper)."""
    if version not in ('final', 'paper'):
        raise ValueError("version must be 'final' or 'paper', got %r" % (version,))
    args = dict(layers=[blocks] * 3, cardinality=32, bottleneck_width=4, classes=100,
                fusion=fusion, r=16, start_layer=1, avg_down=version == 'final')
    args.update(kwargs)
    return _finish(CIFARAFFResNeXt(**args), name, pretrained, ctx, root)


def get_resnet50(fusion='aff', version='final', pretrained=False, ctx=cpu(), root=DEFAULT_ROOT,
                 name=None, **kwargs):
    """ImageNet ResNet-50 v1b host (:class:`AFFResNet`).

    ``'final'``: deep stem, average-pool shortcuts, ``last_gamma=True`` (the released models);
    ``'paper'``: 7x7 stem, strided-conv shortcuts. Both fuse in stages 3-4 only.
    """
    if version not in ('final', 'paper'):
        raise ValueError("version must be 'final' or 'paper', got %r" % (version,))
    final = version == 'final'
    args = dict(layers=[3, 4, 6, 3], classes=1000, fusion=fusion, r=16, start_layer=3,
                deep_stem=final, avg_down=final, last_gamma=final)
    args.update(kwargs)
    return _finish(AFFResNet(**args), name, pretrained, ctx, root)


def get_resnext50(fusion='aff', version='final', pretrained=False, ctx=cpu(), root=DEFAULT_ROOT,
                  name=None, **kwargs):
    """ImageNet ResNeXt-50-32x4d host (:class:`AFFResNeXt`); ``version`` as in
    :func:`get_resnet50`."""
    if version not in ('final', 'paper'):
        raise ValueError("version must be 'final' or 'paper', got %r" % (version,))
    final = version == 'final'
    args = dict(layers=[3, 4, 6, 3], cardinality=32, bottleneck_width=4, classes=1000,
                fusion=fusion, r=16, start_layer=3, deep_stem=final, avg_down=final)
    args.update(kwargs)
    return _finish(AFFResNeXt(**args), name, pretrained, ctx, root)


def _register():
    models = {}

    def add(name, builder, **fixed):
        factory = functools.partial(builder, name=name, **fixed)
        functools.update_wrapper(factory, builder)
        factory.__name__ = name
        models[name] = factory

    for tag in ('aff', 'iaff', 'add'):
        add('cifar_%s_resnet32' % tag, get_cifar_resnet, fusion=tag, blocks=5)
        add('%s_resnet50' % tag, get_resnet50, fusion=tag)
        add('%s_resnext50_32x4d' % tag, get_resnext50, fusion=tag)
        add('%s_resnext50_32x4d_paper' % tag, get_resnext50, fusion=tag, version='paper')
    for tag in ('aff', 'iaff'):
        for depth, blocks in ((38, 4), (47, 5)):
            add('cifar_%s_resnext%d_32x4d' % (tag, depth), get_cifar_resnext, fusion=tag,
                blocks=blocks)
    add('cifar_aff_resnext38_32x4d_paper', get_cifar_resnext, fusion='aff', blocks=4,
        version='paper')
    for tag in FUSIONS:
        for b in PAPER_BLOCKS:
            add('cifar_%s_resnet_b%d' % (tag, b), get_cifar_resnet, fusion=tag, blocks=b,
                version='paper')
    for tag in ('aff', 'iaff', 'gg', 'll', 'add'):
        add('%s_resnet50_paper' % tag, get_resnet50, fusion=tag, version='paper')
    return models


_MODELS = _register()


def register_model(name, factory):
    """Add ``factory(pretrained=False, ctx=cpu(), root=..., **kwargs)`` to the zoo as ``name``.

    Host modules outside this file (Inception, FPN...) register their names at import time.
    """
    key = name.lower()
    if key in _MODELS and _MODELS[key] is not factory:
        raise ValueError('model name %r is already registered' % name)
    _MODELS[key] = factory


def get_model(name, **kwargs):
    """Return the model registered as ``name``.

    Parameters
    ----------
    name : str
        A name of :func:`get_model_list` (case-insensitive).
    pretrained : bool, default False
        Load local weights ``{name}-XXXXXXXX.params`` from ``root``.
    ctx : Context, default cpu()
        Context to load the weights on.
    root : str, default '~/.mxnet/models'
        Where pretrained weights are looked for.
    **kwargs
        Override constructor arguments of the host (``classes``, ``fusion``, ``r``, ...).
    """
    key = name.lower()
    if key not in _MODELS:
        import difflib
        close = difflib.get_close_matches(key, _MODELS, n=3)
        raise ValueError('unknown model %r%s; gluon_aff.get_model_list() lists the %d models'
                         % (name, ' (did you mean %s?)' % ', '.join(close) if close else '',
                            len(_MODELS)))
    return _MODELS[key](**kwargs)


def get_model_list():
    """Names accepted by :func:`get_model`, sorted."""
    return sorted(_MODELS)
