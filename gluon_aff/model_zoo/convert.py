"""Load checkpoints saved by the original open-aff code into gluon-aff models.

The original code saved its models in three ways, all handled by :func:`load_original`:

* ``net.save_parameters`` (both training scripts of the released code): keys are the
  *structural* names (``layer3.1.attention.local_att.0.weight``), which this library reproduces
  exactly (see the manifests), so the file loads as is;
* the deprecated ``net.save_params`` of older Gluon code: keys are the *prefixed* names with the
  network's prefix stripped (``layers3_bottleneckv1b0_reslocalocacha0_conv0_weight``). They hold
  the original class names (``ASKCFuse``, ``ResGlobLocaforGlobLocaCha``, the two spellings
  ``ResLocalLocaCha``/``ResLocaLocaCha``...), which no Gluon-independent rule maps to structure;
  they are matched to this library's parameters in creation order, checking for every pair that
  the parameter kind (``weight``, ``gamma``, ``running_var``...) and the shape agree;
* the ImageNet recipe trains in float16 (``--dtype float16`` default, ``net.cast``), so its
  files hold float16 arrays: they are cast to the network's dtype.

:func:`zoo_name_from_filename` maps the original file names (every pattern of both versions'
training scripts, see :data:`FILENAME_PATTERNS`) to zoo names through the model cards, and
:func:`convert` writes a GluonCV model-store file ``{name}-{sha1[:8]}.params`` that
``pretrained=True`` finds.
"""
from __future__ import division

import hashlib
import os
import re
import shutil
import tempfile

from ..nn.fusion import FUSION_ALIASES

__all__ = ['FILENAME_PATTERNS', 'SCRIPT_DEFAULTS', 'NotAParamsFile', 'ParamsMismatch',
           'fusion_tag', 'original_spec', 'zoo_name_from_filename', 'read_original',
           'to_structural', 'load_original', 'convert']


class NotAParamsFile(ValueError):
    """The file is not an MXNet ``.params`` file, or holds no named parameters."""


class ParamsMismatch(ValueError):
    """The file's keys do not fit the network (``'<file> does not fit <network>: ...'``)."""

_KINDS = ('running_mean', 'running_var', 'gamma', 'beta', 'weight', 'bias')


def fusion_tag(askc_type):
    """Registry tag of an original ``askc_type`` (case-insensitive; both ``LocaLoca`` spellings).

    The original names are declared next to each fusion class (:data:`gluon_aff.nn.FUSION_ALIASES`).
    """
    for original, tag in FUSION_ALIASES.items():
        if original.lower() == str(askc_type).lower():
            return tag
    raise ValueError('unknown original fusion %r; known: %s'
                     % (askc_type, ', '.join(sorted(FUSION_ALIASES))))


#: How the original training scripts named their checkpoints (``%.4f-`` best accuracy/error
#: prefix and ``-<epoch>``/``-best`` suffixes aside): regex -> what it fixes. Named groups:
#: ``askc`` (original fusion name), ``depth``, ``blocks``, ``times`` (``--channel-times``),
#: ``start`` (``--start-layer``), ``dataset``.
FILENAME_PATTERNS = (
    # final train_imagenet.py: 'ImageNet-' + askc_type + '-resnet-' + '-50-s-3'
    (r'ImageNet-(?P<askc>[A-Za-z]+)-(?P<host>resnet|resnext)--(?P<depth>\d+)-s-(?P<start>\d+)',
     dict(version='final', dataset='imagenet')),
    # paper train_imagenet.py: 'ResNet50_v1bASKC-' + askc_type, 'ResNeXt-50-32x4d-ASKC-' + ...
    (r'ResNet50_v1bASKC-(?P<askc>[A-Za-z]+)',
     dict(version='paper', dataset='imagenet', host='resnet')),
    (r'ResNeXt-50-32x4d-ASKC-(?P<askc>[A-Za-z]+)',
     dict(version='paper', dataset='imagenet', host='resnext')),
    # final train_cifar.py: dataset-askc-resnet-<depth>-c-<times>-s-<start>, ResNeXt with
    # -resneXt-<depth>-32x4-; some released files repeat the data set ('cifar100-cifar100-')
    (r'(?P<dataset>cifar\d+)-(?:cifar\d+-)?(?P<askc>[A-Za-z]+)-(?P<host>resnet|resneXt)-'
     r'(?P<depth>\d+)(?:-\d+x\d+)?-c-(?P<times>\d+)-s-(?P<start>\d+)', dict(version='final')),
    # paper train_cifar.py: dataset-resnet_<askc>_blocks_<b>_channel_times_<t>_start_layer_<s>;
    # its older logs name the AFF host 'resnet_v2_askc' without the type
    (r'(?P<dataset>cifar\d+)-resnet_(?:v2_askc|(?P<askc>[A-Za-z]+))_blocks_(?P<blocks>\d+)_'
     r'channel_times_(?P<times>\d+)_start_layer_(?P<start>\d+)',
     dict(version='paper', host='resnet', askc='ASKCFuse')),
    # paper ResNeXt runs: dataset-resnext<depth>_32x4d_<askc|aff|iaff>_mixup (806562e itself
    # saved ResNeXt-38 as 'resnext47_32x4d_iaff_mixup'; the logs show the names used)
    (r'(?P<dataset>cifar\d+)-(?P<host>resnext)(?P<depth>\d+)_32x4d_(?P<fusion>askc|aff|iaff)_',
     dict(version='paper')),
)

#: the original training scripts' defaults (``--channel-times``, ``--start-layer``,
#: ``--num-layer``) per (task, code version), which a zoo name implies
SCRIPT_DEFAULTS = {('cifar', 'final'): dict(times=4, start=1),
                    ('cifar', 'paper'): dict(times=1, start=1),
                    ('imagenet', 'final'): dict(depth=50, start=3),
                    ('imagenet', 'paper'): dict(depth=50, start=3)}


def _parse_filename(base):
    """``(criteria, overrides)`` of an original file name, or None."""
    for pattern, fixed in FILENAME_PATTERNS:
        match = re.search(pattern, base)
        if match:
            found = dict(fixed, **{k: v for k, v in match.groupdict().items() if v})
            break
    else:
        return None
    host = found['host'].lower()
    dataset = found.get('dataset', '')
    task = 'imagenet' if dataset == 'imagenet' else 'cifar'
    fusion = {'askc': 'aff', 'aff': 'aff', 'iaff': 'iaff'}.get(found.get('fusion')) \
        or fusion_tag(found['askc'])
    criteria = dict(host=host, fusion=fusion, version=found['version'],
                    dataset='imagenet' if task == 'imagenet' else 'cifar100')
    defaults = SCRIPT_DEFAULTS[(task, found['version'])]
    overrides = {}
    if task == 'cifar':
        depth = int(found['depth']) if 'depth' in found else None
        blocks = int(found['blocks']) if 'blocks' in found else \
            (depth - 2) // (6 if host == 'resnet' else 9)
        criteria['blocks'] = blocks
        if dataset != 'cifar100':
            overrides['classes'] = int(dataset[len('cifar'):])
    elif int(found.get('depth', 50)) != defaults['depth']:
        overrides['depth'] = int(found['depth'])
    if int(found.get('times', defaults.get('times', 0))) != defaults.get('times', 0):
        overrides['channel_times'] = int(found['times'])
    if int(found.get('start', defaults['start'])) != defaults['start']:
        overrides['start_layer'] = int(found['start'])
    return criteria, overrides


def original_spec(path):
    """``(zoo name, overrides)`` building the network of an original checkpoint file:
    ``get_model(name, **overrides)``. The file name follows one of :data:`FILENAME_PATTERNS`.

    The name is the zoo model of the file's code version, host, fusion and depth. Where the zoo
    has none, the family's first model with overrides: another depth (``blocks=``), another
    fusion (``fusion=``); an ImageNet fusion that only the paper version built (e.g.
    ``ResGlobGlobCha`` in the final pattern) takes the paper model. Options the name does not
    fix (``--channel-times``, ``--start-layer``, ``--num-layer``, CIFAR-10's 10 classes) come
    back as overrides too.
    """
    from .registry import find_models, get_model_card
    base = os.path.basename(path)
    parsed = _parse_filename(base)
    if parsed is None:
        raise ValueError('cannot tell the model from the file name %r (no pattern of the original '
                         'training scripts matches); pass the zoo name' % base)
    criteria, overrides = parsed
    searches = [(criteria, {})]
    if criteria['version'] == 'final' and criteria['dataset'] == 'imagenet':
        searches.append((dict(criteria, version='paper'), {}))
    if 'blocks' in criteria:
        searches.append(({k: v for k, v in criteria.items() if k != 'blocks'},
                         dict(blocks=criteria['blocks'])))
    searches.append(({k: v for k, v in criteria.items() if k not in ('blocks', 'fusion')},
                     {k: criteria[k] for k in ('blocks', 'fusion') if k in criteria}))
    for search, extra in searches:
        names = find_models(**search)
        if names:
            fixed = get_model_card(names[0]).kwargs
            extra = {k: v for k, v in extra.items() if fixed.get(k) != v}
            return names[0], dict(overrides, **extra)
    raise ValueError('%s: the zoo has no %s host of the %s code on %s'
                     % (base, criteria['host'], criteria['version'], criteria['dataset']))


def zoo_name_from_filename(path):
    """Zoo name of an original checkpoint from its file name (the training scripts' patterns).

    ``imagenet-ImageNet-ASKCFuse-resnet--50-s-3-239.params`` -> ``aff_resnet50``,
    ``0.1978-imagenet-ImageNet-ResGlobLocaforGlobLocaCha-resnext--50-s-3-...`` ->
    ``iaff_resnext50_32x4d``, ``...cifar100-ASKCFuse-resnet-32-c-4-s-1...`` ->
    ``cifar_aff_resnet32``, ``...-ASKCFuse-resneXt-47-...`` -> ``cifar_aff_resnext47_32x4d``,
    ``...-ResNet50_v1bASKC-ResGlobGlobCha-...`` -> ``gg_resnet50_paper``.

    Raises ``ValueError`` when the file holds a network no zoo name builds as is (the message
    gives the :func:`get_model` call that does, see :func:`original_spec`).
    """
    name, overrides = original_spec(path)
    if overrides:
        raise ValueError('%s is not a zoo model as named: build it with get_model(%r, %s) and '
                         'load it with load_original' % (
                             os.path.basename(path), name,
                             ', '.join('%s=%r' % kv for kv in sorted(overrides.items()))))
    return name


def read_original(path):
    """``{key: NDArray}`` of a ``.params`` file, with a clear error when it is missing/unreadable."""
    import mxnet as mx
    if not os.path.isfile(path):
        raise FileNotFoundError('checkpoint not found: %s' % path)
    try:
        loaded = mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise NotAParamsFile('%s is not an MXNet .params file: %s'  # MXNet's reason: its last line
                         % (path, str(err).strip().splitlines()[-1])) from None
    if not isinstance(loaded, dict) or not loaded:
        raise NotAParamsFile('%s holds no named parameters' % path)
    # Trainer/``save_checkpoint`` style ``arg:``/``aux:`` prefixes (Module checkpoints)
    return {re.sub(r'^(arg|aux):', '', k): v for k, v in loaded.items()}


def _kind(key):
    for kind in _KINDS:
        if key.endswith(kind):
            return kind
    return key.rsplit('_', 1)[-1]


def _describe(keys, n=3):
    keys = sorted(keys)
    return ', '.join(keys[:n]) + (' ... (%d in all)' % len(keys) if len(keys) > n else '')


def to_structural(net, loaded, source='checkpoint'):
    """Rename the arrays of an original file to ``net``'s structural keys.

    ``net`` must be shape-resolved (run one forward pass first). Structural files pass through;
    prefixed (``save_params``) files are matched in creation order (see the module docstring).

    Raises
    ------
    ValueError
        Keys, kinds or shapes do not match; the message names the first offending keys.
    """
    structural = net._collect_params_with_prefix()
    if any('.' in k for k in loaded):
        missing, extra = set(structural) - set(loaded), set(loaded) - set(structural)
        if missing or extra:
            raise ParamsMismatch('%s does not fit %s: missing %s; unexpected %s'
                             % (source, type(net).__name__, _describe(missing) or 'none',
                                _describe(extra) or 'none'))
        renamed = dict(loaded)
    else:
        by_param = {id(p): k for k, p in structural.items()}
        ordered = [by_param[id(p)] for p in net.collect_params().values()]
        if len(ordered) != len(loaded):
            raise ValueError('%s has %d arrays, %s has %d parameters'
                             % (source, len(loaded), type(net).__name__, len(ordered)))
        renamed = {}
        for (old, value), new in zip(loaded.items(), ordered):
            if _kind(old) != _kind(new):
                raise ValueError('%s: %r (a %s) lands on %r (a %s): the file is not a %s'
                                 % (source, old, _kind(old), new, _kind(new),
                                    type(net).__name__))
            renamed[new] = value
    for key, value in renamed.items():
        if tuple(value.shape) != tuple(structural[key].shape):
            raise ValueError('%s: %s has shape %s, the model expects %s'
                             % (source, key, value.shape, structural[key].shape))
    return renamed


def load_original(net, path, ctx=None, input_shape=(1, 3, 224, 224)):
    """Load an original open-aff checkpoint (any of the layouts above) into ``net``.

    Parameters
    ----------
    net : HybridBlock
        The matching zoo model (e.g. ``get_model(zoo_name_from_filename(path))``).
    path : str
        The original ``.params`` file.
    ctx : Context or list of Context, default cpu()
    input_shape : tuple, default (1, 3, 224, 224)
        Used to resolve deferred shapes when ``net`` has not run yet (32x32 for CIFAR models).
    """
    import mxnet as mx
    ctx = ctx or mx.cpu()
    loaded = read_original(path)
    params = net._collect_params_with_prefix()
    if any(p._data is None and p._deferred_init == () for p in params.values()):
        net.initialize(ctx=ctx)
    if any(0 in p.shape for p in params.values()):
        net(mx.nd.zeros(input_shape, ctx=ctx if not isinstance(ctx, list) else ctx[0]))
    for key, value in to_structural(net, loaded, source=path).items():
        param = params[key]
        param.set_data(value.astype(param.dtype))
    return net


def convert(path, name=None, root=os.path.join('~', '.mxnet', 'models')):
    """Convert an original checkpoint to ``{root}/{name}-{sha1[:8]}.params`` (float32, structural
    keys) so that ``get_model(name, pretrained=True, root=root)`` loads it. Returns the path."""
    from .registry import get_model, get_model_card
    name = name or zoo_name_from_filename(path)
    net = get_model(name)
    load_original(net, path, input_shape=(1, 3) + get_model_card(name).input_size)
    root = os.path.expanduser(root)
    os.makedirs(root, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.params', dir=root)
    os.close(fd)
    try:
        net.save_parameters(tmp)
        sha1 = hashlib.sha1()
        with open(tmp, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                sha1.update(chunk)
        target = os.path.join(root, '%s-%s.params' % (name, sha1.hexdigest()[:8]))
        shutil.move(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target
