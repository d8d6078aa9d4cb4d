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

:func:`zoo_name_from_filename` maps the original file names (``...-ImageNet-ASKCFuse-resnet--50-s-3``,
``cifar100-ASKCFuse-resneXt-38-c-4-s-1``...) to zoo names, and :func:`convert` writes a
GluonCV model-store file ``{name}-{sha1[:8]}.params`` that ``pretrained=True`` finds.
"""
from __future__ import division

import hashlib
import os
import re
import shutil
import tempfile

from ..nn.fusion import FUSION_ALIASES

__all__ = ['fusion_tag', 'zoo_name_from_filename', 'read_original', 'to_structural',
           'load_original', 'convert']

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


def zoo_name_from_filename(path):
    """Zoo name of an original checkpoint from its file name (the training scripts' pattern).

    ``imagenet-ImageNet-ASKCFuse-resnet--50-s-3-239.params`` -> ``aff_resnet50``,
    ``0.1978-imagenet-ImageNet-ResGlobLocaforGlobLocaCha-resnext--50-s-3-...`` ->
    ``iaff_resnext50_32x4d``, ``...cifar100-ASKCFuse-resnet-32-c-4-s-1...`` ->
    ``cifar_aff_resnet32``, ``...-ASKCFuse-resneXt-47-...`` -> ``cifar_aff_resnext47_32x4d``.
    """
    base = os.path.basename(path)
    match = re.search(r'ImageNet-([A-Za-z]+)-(resnet|resnext)--?50-s-3', base)
    if match:
        tag = fusion_tag(match.group(1))
        return '%s_%s' % (tag, 'resnet50' if match.group(2) == 'resnet' else 'resnext50_32x4d')
    match = re.search(r'cifar\d*-([A-Za-z]+)-(resnet|resnext)-(\d+)', base, re.IGNORECASE)
    if match:
        tag, depth = fusion_tag(match.group(1)), int(match.group(3))
        if match.group(2).lower() == 'resnet':
            return 'cifar_%s_resnet%d' % (tag, depth)
        return 'cifar_%s_resnext%d_32x4d' % (tag, depth)
    raise ValueError('cannot tell the model from the file name %r; pass the zoo name' % base)


def read_original(path):
    """``{key: NDArray}`` of a ``.params`` file, with a clear error when it is missing/unreadable."""
    import mxnet as mx
    if not os.path.isfile(path):
        raise FileNotFoundError('checkpoint not found: %s' % path)
    try:
        loaded = mx.nd.load(path)
    except mx.base.MXNetError as err:
        raise ValueError('%s is not an MXNet .params file: %s'
                         % (path, str(err).splitlines()[0])) from None
    if not isinstance(loaded, dict) or not loaded:
        raise ValueError('%s holds no named parameters' % path)
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
            raise ValueError('%s does not fit %s: missing %s; unexpected %s'
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
    from .model_zoo import get_model
    name = name or zoo_name_from_filename(path)
    net = get_model(name)
    shape = (1, 3, 32, 32) if name.startswith('cifar_') else (1, 3, 224, 224)
    load_original(net, path, input_shape=shape)
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
