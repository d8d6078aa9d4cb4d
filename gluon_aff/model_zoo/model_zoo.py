"""GluonCV-style model zoo: the host factories and the one place that declares the named models.

Every name is one factory call ``f(pretrained=False, ctx=cpu(), root='~/.mxnet/models',
**kwargs)`` with the fixed arguments of its model card (:func:`get_model_card`). Keyword
arguments of :func:`get_model` override the factory's and the host's arguments (e.g.
``classes=20``, ``fusion='iaff'``, ``form='paper'``, ``blocks=3``). Two versions of the original
code are covered, plus two hosts built from the paper:

* final open-aff (the released models): ``cifar_{aff,iaff}_resnet32``,
  ``cifar_{aff,iaff}_resnext{38,47}_32x4d``, ``{aff,iaff}_resnet50``,
  ``{aff,iaff}_resnext50_32x4d``;
* paper-version open-aff (the ablation tables): ``cifar_<tag>_resnet_b{1..4}`` for every fusion
  tag, ``cifar_aff_resnext38_32x4d_paper``, ``{aff,iaff,gg,ll}_resnet50_paper``,
  ``{aff,iaff}_resnext50_32x4d_paper``;
* built from the paper: ``cifar_<tag>_inception_resnet_b{1..4}``, ``fpn_<tag>_resnet_b{1..4}``;

plus the plain baselines built by the same code (``fusion='add'``): ``cifar_add_resnet32``,
``add_resnet50``, ``add_resnet50_paper``, ``add_resnext50_32x4d``, ``add_resnext50_32x4d_paper``.

To add a named model or a family, add a :func:`register_model` / :func:`register_family` call to
:func:`_declare` (see ``docs/adding_models.md``).
"""
from mxnet import cpu

from ..nn.fusion import FUSIONS
from .cifar_resnet import CIFARAFFResNet
from .fpn import AFFFPNResNet
from .inception import CIFARInceptionResNet
from .model_store import DEFAULT_ROOT, get_model_file
from .registry import (get_model, get_model_card, get_model_list,  # noqa: F401
                       register_family, register_model)
from .resnet import RESNET_DEPTHS, AFFResNet
from .resnext import AFFResNeXt, CIFARAFFResNeXt

__all__ = ['get_cifar_resnet', 'get_cifar_resnext', 'get_resnet50', 'get_resnext50',
           'get_cifar_inception_resnet', 'get_fpn_resnet', 'PAPER_BLOCKS',
           'CIFAR_RESNEXT_CARDINALITY']

#: blocks per stage of the paper's ResNet-20-b ablation family
PAPER_BLOCKS = (1, 2, 3, 4)

#: the final open-aff train_cifar.py's ResNeXt groups per stem width (``16 * channel_times``)
CIFAR_RESNEXT_CARDINALITY = {64: 32, 128: 64}

_VERSIONS = ('final', 'paper')


def _check_version(version):
    if version not in _VERSIONS:
        raise ValueError("version must be 'final' or 'paper', got %r" % (version,))
    return version == 'final'


def _finish(net, name, pretrained, ctx, root):
    """Load the local pretrained weights of zoo model ``name`` into ``net`` if asked to."""
    if pretrained:
        if name is None:
            raise ValueError('pretrained=True needs a zoo name: use gluon_aff.get_model(name, '
                             'pretrained=True)')
        sha1 = get_model_card(name).sha1 if name in get_model_list() else None
        net.load_parameters(get_model_file(name, root=root, sha1=sha1), ctx=ctx)
    return net


def get_cifar_resnet(fusion='aff', blocks=5, version='final', channel_times=None,
                     pretrained=False, ctx=cpu(), root=DEFAULT_ROOT, name=None, **kwargs):
    """CIFAR pre-activation ResNet-(6b+2) host (:class:`CIFARAFFResNet`).

    Parameters
    ----------
    fusion : str, default 'aff'
        Registry tag of the fusion.
    blocks : int, default 5
        Blocks per stage ``b`` (the original's ``--blocks``).
    version : {'final', 'paper'}
        ``'final'``: average-pool shortcuts (open-aff's ResNet-32); ``'paper'``: strided-conv
        shortcuts (``ResNet-20-b``).
    channel_times : int, optional
        The original's ``--channel-times``: widths ``16, 16, 32, 64`` times this (default 4 for
        ``final``, 64-64-128-256; 1 for ``paper``, 16-16-32-64).
    pretrained : bool, default False
        Load ``{name}-XXXXXXXX.params`` from ``root``.
    **kwargs
        Constructor arguments of :class:`CIFARAFFResNet` (``start_layer`` (``--start-layer``),
        ``deep_stem`` (``--deep-stem``), ``classes``, ``r``, ``form``, ...).
    """
    final = _check_version(version)
    times = (4 if final else 1) if channel_times is None else channel_times
    args = dict(layers=[blocks] * 3, channels=[w * times for w in (16, 16, 32, 64)],
                classes=100, fusion=fusion, r=4, start_layer=1,
                shortcut='avg' if final else 'conv')
    args.update(kwargs)
    return _finish(CIFARAFFResNet(**args), name, pretrained, ctx, root)


def get_cifar_resnext(fusion='aff', blocks=4, version='final', channel_times=4, pretrained=False,
                      ctx=cpu(), root=DEFAULT_ROOT, name=None, **kwargs):
    """CIFAR ResNeXt-(9b+2) host (:class:`CIFARAFFResNeXt`), 32x4d at the default width.

    Parameters
    ----------
    fusion : str, default 'aff'
    blocks : int, default 4
        Blocks per stage (4: ResNeXt-38, 5: ResNeXt-47).
    version : {'final', 'paper'}
        The shortcut: average-pool (final) or strided conv (paper).
    channel_times : int, default 4
        The final original's ``--channel-times``: stem and stage-1 base width ``16 *
        channel_times``, with its groups rule (:data:`CIFAR_RESNEXT_CARDINALITY`: 32 groups at
        width 64, 64 at 128; other widths need ``cardinality=``).
    **kwargs
        Constructor arguments of :class:`CIFARAFFResNeXt` (``start_layer``, ``deep_stem``,
        ``last_gamma``, ``classes``, ...).

    Every ResNeXt of the original zero-initialises its blocks' last BN gamma (its inverted
    ``last_gamma`` flag left at False), hence ``last_gamma=True`` here.
    """
    final = _check_version(version)
    width = 16 * channel_times
    if 'cardinality' not in kwargs and width not in CIFAR_RESNEXT_CARDINALITY:
        raise ValueError('channel_times=%r: the original CIFAR ResNeXt only has groups for stem '
                         'widths %s (channel_times 4 or 8); pass cardinality= for width %d'
                         % (channel_times, sorted(CIFAR_RESNEXT_CARDINALITY), width))
    args = dict(layers=[blocks] * 3, cardinality=CIFAR_RESNEXT_CARDINALITY.get(width),
                bottleneck_width=4, classes=100, fusion=fusion, r=16, start_layer=1,
                stem_width=width, avg_down=final, last_gamma=True)
    args.update(kwargs)
    return _finish(CIFARAFFResNeXt(**args), name, pretrained, ctx, root)


def _depth_layers(depth):
    if depth not in RESNET_DEPTHS:
        raise ValueError('depth must be one of %s (the original --num-layer), got %r'
                         % (', '.join(map(str, sorted(RESNET_DEPTHS))), depth))
    return list(RESNET_DEPTHS[depth])


def get_resnet50(fusion='aff', version='final', depth=50, pretrained=False, ctx=cpu(),
                 root=DEFAULT_ROOT, name=None, **kwargs):
    """ImageNet ResNet v1b host (:class:`AFFResNet`), depth 50 by default.

    ``'final'``: deep stem, average-pool shortcuts; ``'paper'``: 7x7 stem, strided-conv
    shortcuts. Both fuse in stages 3-4 only and zero-initialise the last BN gamma of every block
    (``last_gamma=True``: both versions' logs ran with ``--last-gamma``). ``depth`` 101 or 152 is
    the final original's ``--num-layer`` (no such model was released).
    """
    final = _check_version(version)
    args = dict(layers=_depth_layers(depth), classes=1000, fusion=fusion, r=16, start_layer=3,
                deep_stem=final, avg_down=final, last_gamma=True)
    args.update(kwargs)
    return _finish(AFFResNet(**args), name, pretrained, ctx, root)


def get_resnext50(fusion='aff', version='final', depth=50, pretrained=False, ctx=cpu(),
                  root=DEFAULT_ROOT, name=None, **kwargs):
    """ImageNet ResNeXt-32x4d host (:class:`AFFResNeXt`), depth 50 by default; ``version`` and
    ``depth`` as in :func:`get_resnet50`. The last BN gamma of every block is zero-initialised
    (``last_gamma=True``), as the original's inverted flag did in both versions."""
    final = _check_version(version)
    args = dict(layers=_depth_layers(depth), cardinality=32, bottleneck_width=4, classes=1000,
                fusion=fusion, r=16, start_layer=3, deep_stem=final, avg_down=final,
                last_gamma=True)
    args.update(kwargs)
    return _finish(AFFResNeXt(**args), name, pretrained, ctx, root)


def get_cifar_inception_resnet(fusion='aff', blocks=1, pretrained=False, ctx=cpu(),
                               root=DEFAULT_ROOT, name=None, **kwargs):
    """Inception-ResNet-20-b host (:class:`CIFARInceptionResNet`), widths 16-16-32-64.

    Parameters
    ----------
    fusion : str, default 'aff'
        Registry tag of the same-layer fusion.
    blocks : int, default 1
        Blocks per stage ``b`` (depth ``6b + 2``).
    **kwargs
        Override constructor arguments (``channels``, ``classes``, ``skip_fusion``...).
    """
    args = dict(layers=[blocks] * 3, channels=[16, 16, 32, 64], classes=100, fusion=fusion, r=4)
    args.update(kwargs)
    return _finish(CIFARInceptionResNet(**args), name, pretrained, ctx, root)


def get_fpn_resnet(fusion='aff', blocks=1, pretrained=False, ctx=cpu(), root=DEFAULT_ROOT,
                   name=None, **kwargs):
    """ResNet-20-b + FPN segmentation host (:class:`AFFFPNResNet`), widths 16-16-32-64, 2 classes.

    Parameters
    ----------
    fusion : str, default 'aff'
        Registry tag of the fusion of the top-down merges.
    blocks : int, default 1
        Backbone blocks per stage ``b``.
    **kwargs
        Override constructor arguments (``channels``, ``classes``, ``upsample``...).
    """
    args = dict(layers=[blocks] * 3, channels=[16, 16, 32, 64], classes=2, fusion=fusion, r=4,
                shortcut='conv')
    args.update(kwargs)
    return _finish(AFFFPNResNet(**args), name, pretrained, ctx, root)


_FINAL, _PAPER = 'open-aff@0bcfd8a', 'open-aff@806562e'


def _declare():
    """Every named model of the zoo, with its model card."""
    # ---- CIFAR-100, final open-aff (train_cifar.py --model resnet/resnext --channel-times 4)
    register_family(
        'cifar_{fusion}_resnet32', get_cifar_resnet, dict(fusion=('aff', 'iaff', 'add')),
        kwargs=dict(blocks=5, version='final'), dataset='cifar100', version='final',
        host='resnet', source=_FINAL + " CIFARAFFResNet(askc_type='{askc}', start_layer=1, "
        "layers=[5, 5, 5], channels=[64, 64, 128, 256], classes=100, deep_stem=False); "
        "checkpoints '<acc>-cifar100-{askc}-resnet-32-c-4-s-1-best.params'")
    for depth, blocks in ((38, 4), (47, 5)):
        register_family(
            'cifar_{fusion}_resnext%d_32x4d' % depth, get_cifar_resnext,
            dict(fusion=('aff', 'iaff')), kwargs=dict(blocks=blocks, version='final'),
            dataset='cifar100', version='final', host='resnext',
            source=_FINAL + " CIFARAFFResNeXt(askc_type='{askc}', start_layer=1, layers=[%d, %d, "
            "%d], channels=[64, 64, 128, 256], cardinality=32, bottleneck_width=4, classes=100, "
            "deep_stem=False, use_se=False); checkpoints '<acc>-cifar100-{askc}-resneXt-%d-32x4-"
            "c-4-s-1-best.params'" % (blocks, blocks, blocks, depth))
    # ---- CIFAR-100, paper-version open-aff: the ResNet-20-b ablations and ResNeXt-38
    register_family(
        'cifar_{fusion}_resnet_b{blocks}', get_cifar_resnet,
        dict(fusion=tuple(FUSIONS), blocks=PAPER_BLOCKS), kwargs=dict(version='paper'),
        dataset='cifar100', version='paper', host='resnet',
        source=_PAPER + " ResNet110V2ASKC(in_askc_type='{askc}', layers=[{blocks}, {blocks}, "
        "{blocks}], channels=[16, 16, 32, 64], classes=100, start_layer=1); checkpoints "
        "'<acc>-cifar100-resnet_{askc}_blocks_{blocks}_channel_times_1_start_layer_1_mixup-"
        "best.params'")
    register_model(
        'cifar_aff_resnext38_32x4d_paper', get_cifar_resnext,
        kwargs=dict(fusion='aff', blocks=4, version='paper'), dataset='cifar100',
        version='paper', host='resnext', fusion='aff',
        source=_PAPER + " CIFARResNextASKC(layers=[4, 4, 4], cardinality=32, bottleneck_width=4,"
        " classes=100, use_se=False) (ASKCFuse hard-coded); checkpoints '<acc>-cifar100-"
        "resnext38_32x4d_askc_mixup-best.params'")
    # ---- ImageNet: final open-aff (train_imagenet.py --model resnet/resnext --start-layer 3)
    # and paper version (--scenario ResNet/ResNeXt). Input size: the released iAFF-ResNeXt-50
    # log (0.1978) opens with a Namespace asking for input_size=320, but that run logged no
    # batch; the run that trained 240 epochs (its Namespace lines 16-17) used 224, as
    # cmd_scripts.txt (no --input-size) does.
    imagenet = (
        ('{fusion}_resnet50', get_resnet50, ('aff', 'iaff', 'add'), 'final', 'resnet',
         " AFFResNet(askc_type='{askc}', start_layer=3, layers=[3, 4, 6, 3], classes=1000, "
         "last_gamma=True); checkpoints '<err>-imagenet-ImageNet-{askc}-resnet--50-s-3-<epoch>-"
         "best.params'"),
        ('{fusion}_resnext50_32x4d', get_resnext50, ('aff', 'iaff', 'add'), 'final', 'resnext',
         " AFFResNeXt(askc_type='{askc}', start_layer=3, layers=[3, 4, 6, 3], cardinality=32, "
         "bottleneck_width=4, use_se=False); checkpoints '<err>-imagenet-ImageNet-{askc}-"
         "resnext--50-s-3-<epoch>-best.params'"),
        ('{fusion}_resnet50_paper', get_resnet50, ('aff', 'iaff', 'gg', 'll', 'add'), 'paper',
         'resnet', " ResNet50_v1bASKC(askc_type='{askc}', layers=[3, 4, 6, 3], classes=1000) "
         "with --last-gamma; checkpoints '<err>-imagenet-ResNet50_v1bASKC-{askc}-<epoch>-"
         "best.params'"),
        ('{fusion}_resnext50_32x4d_paper', get_resnext50, ('aff', 'iaff', 'add'), 'paper',
         'resnext', " ResNextASKC(askc_type='{askc}', layers=[3, 4, 6, 3], cardinality=32, "
         "bottleneck_width=4); checkpoints '<err>-imagenet-ResNeXt-50-32x4d-ASKC-{askc}-"
         "<epoch>-best.params'"))
    for pattern, builder, fusions, version, host, call in imagenet:
        register_family(pattern, builder, dict(fusion=fusions), kwargs=dict(version=version),
                        dataset='imagenet', version=version, host=host,
                        askc_names={'ll': 'ResLocaLocaCha'},  # the ImageNet spelling
                        source=(_FINAL if version == 'final' else _PAPER) + call)
    # ---- built from the paper (Sec. 4.3, Fig. 3, Table 2): no original code or checkpoints
    register_family(
        'cifar_{fusion}_inception_resnet_b{blocks}', get_cifar_inception_resnet,
        dict(fusion=tuple(FUSIONS), blocks=PAPER_BLOCKS), dataset='cifar100', version='built',
        host='inception_resnet',
        source='built from the paper (Fig. 3) after ' + _PAPER + ' model/atac ResNet20V2DyReF '
        '(unfinished); no original checkpoints')
    register_family(
        'fpn_{fusion}_resnet_b{blocks}', get_fpn_resnet,
        dict(fusion=tuple(FUSIONS), blocks=PAPER_BLOCKS), dataset='stopsign', version='built',
        host='fpn_resnet', source='built from the paper (Fig. 3, Table 2); no original code')


_declare()
