"""The model registry: named models, each with a :class:`ModelCard`.

A named model is a builder (a host factory such as :func:`~gluon_aff.model_zoo.get_cifar_resnet`)
called with the fixed arguments of its card (``card.kwargs``) and the user's overrides::

    get_model(name, **kwargs) == builder(**card.kwargs, **kwargs)   (+ pretrained weights)

The registry sits above the hosts: host modules never import it; the named models are declared
in one place (:mod:`gluon_aff.model_zoo.model_zoo`) with :func:`register_model` /
:func:`register_family`. Everything that needs to know about a model - its input size and
normalisation, task, data set, code version, original class and checkpoint naming - reads its
card (:func:`get_model_card`) instead of parsing its name.
"""
import dataclasses
import difflib
import itertools
from typing import Any, Dict, Optional, Tuple

__all__ = ['ModelCard', 'DATASETS', 'TASKS', 'VERSIONS', 'register_model', 'register_family',
           'get_model', 'get_model_list', 'get_model_card', 'find_models', 'get_host']

#: ``task`` values of a card
TASKS = ('classification', 'segmentation')

#: ``version`` values: the two versions of the original code, and hosts built from the paper
#: without original code
VERSIONS = ('final', 'paper', 'built')

#: data set -> card defaults: task, input size (H, W) and the normalisation the original used
#: (mean/std of ``ToTensor`` images in [0, 1]), the centre-crop ratio of evaluation, classes
DATASETS = {
    # open-aff train_cifar.py: Normalize([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]);
    # the 100-way head also takes the 20 super-classes (the original's default labels)
    'cifar100': dict(task='classification', input_size=(32, 32), mean=(0.4914, 0.4822, 0.4465),
                     std=(0.2023, 0.1994, 0.2010), crop_ratio=1.0, classes=100),
    # open-aff train_imagenet.py: Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    # resize ceil(224 / 0.875) = 256 then centre crop 224 (RecordIO: the same values x 255)
    'imagenet': dict(task='classification', input_size=(224, 224), mean=(0.485, 0.456, 0.406),
                     std=(0.229, 0.224, 0.225), crop_ratio=0.875, classes=1000),
    # StopSign (paper Sec. 4.3; gluon-aff's data set, GluonCV's segmentation conventions): the
    # validation short side resized to crop_size 480 then centre-cropped, ImageNet
    # normalisation, 2 classes (background, stop sign)
    'stopsign': dict(task='segmentation', input_size=(480, 480), mean=(0.485, 0.456, 0.406),
                     std=(0.229, 0.224, 0.225), crop_ratio=1.0, classes=2),
}


@dataclasses.dataclass(frozen=True)
class ModelCard(object):
    """What is known about a named model, independent of building it.

    Attributes
    ----------
    name : str
        The zoo name.
    task : {'classification', 'segmentation'}
    dataset : {'cifar100', 'imagenet', 'stopsign'}
    input_size : (int, int)
        ``(H, W)`` the model is evaluated at by default.
    mean, std : tuple of 3 floats
        Normalisation of ``ToTensor`` images (values in [0, 1]) the original used for the data set.
    classes : int
        Output units of the head.
    version : {'final', 'paper', 'built'}
        Which original code the model reproduces (``built``: a host rebuilt from the paper,
        the original has no code for it).
    host : str
        The host family (``resnet``, ``resnext``, ``inception_resnet``, ``fpn_resnet``); with
        ``dataset`` it names the builder (:func:`get_host`).
    fusion : str
        Registry tag of the fusion (:data:`gluon_aff.nn.FUSIONS`).
    source : str
        The original class and constructor call, and how its checkpoint files are named.
    sha1 : str or None
        SHA-1 of the published checkpoint, when known.
    kwargs : dict
        The builder's fixed arguments for this name (``get_model`` overrides them).
    crop_ratio : float
        Evaluation centre-crop ratio: the short side is resized to ``ceil(size / crop_ratio)``.
    """
    name: str
    task: str
    dataset: str
    input_size: Tuple[int, int]
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    classes: int
    version: str
    host: str
    fusion: str
    source: str
    sha1: Optional[str] = None
    kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    crop_ratio: float = 1.0

    def __post_init__(self):
        for key, allowed in (('task', TASKS), ('version', VERSIONS), ('dataset', DATASETS)):
            if getattr(self, key) not in allowed:
                raise ValueError('model card %r: %s must be one of %s, got %r'
                                 % (self.name, key, ', '.join(allowed), getattr(self, key)))
        for key, length in (('input_size', 2), ('mean', 3), ('std', 3)):
            value = tuple(getattr(self, key))
            if len(value) != length:
                raise ValueError('model card %r: %s needs %d values, got %r'
                                 % (self.name, key, length, value))
            object.__setattr__(self, key, value)  # JSON lists -> tuples
        object.__setattr__(self, 'kwargs', dict(self.kwargs))

    def to_dict(self):
        """A JSON-serialisable dict (tuples become lists in JSON)."""
        return {f.name: (dict(getattr(self, f.name)) if f.name == 'kwargs'
                         else getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d):
        """The card of :meth:`to_dict` (or of its JSON); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError('unknown model card field(s) %s; known: %s'
                             % (', '.join(unknown), ', '.join(sorted(names))))
        return cls(**d)


class _Entry(object):
    __slots__ = ('card', 'builder')

    def __init__(self, card, builder):
        self.card, self.builder = card, builder


_MODELS = {}


def register_model(name, builder, dataset, version, host, fusion, source, sha1=None,
                   kwargs=None, **card):
    """Add ``name``: ``get_model(name, **kw)`` returns ``builder(name=name, **kwargs, **kw)``.

    Parameters
    ----------
    name : str
        The zoo name (lower case).
    builder : callable
        A host factory ``builder(pretrained=False, ctx=..., root=..., name=None, **kwargs)``.
    dataset, version, host, fusion, source, sha1
        Card fields (see :class:`ModelCard`).
    kwargs : dict
        The builder's fixed arguments for this name.
    **card
        Overrides of the data set's defaults (:data:`DATASETS`: ``task``, ``input_size``,
        ``mean``, ``std``, ``classes``, ``crop_ratio``).

    Returns the :class:`ModelCard`.
    """
    key = name.lower()
    if key != name:
        raise ValueError('zoo names are lower case, got %r' % name)
    if key in _MODELS:
        raise ValueError('model name %r is already registered' % name)
    if dataset not in DATASETS:
        raise ValueError('model %r: unknown dataset %r (known: %s)'
                         % (name, dataset, ', '.join(DATASETS)))
    fields = dict(DATASETS[dataset], **card)
    model_card = ModelCard(name=name, dataset=dataset, version=version, host=host,
                           fusion=fusion, source=source, sha1=sha1, kwargs=kwargs or {},
                           **fields)
    _MODELS[key] = _Entry(model_card, builder)
    return model_card


def register_family(pattern, builder, axes, kwargs=None, source='', askc_names=None, **card):
    """Register one name per combination of ``axes`` (GluonCV-style families).

    ``axes`` maps argument names to the values they take; every combination ``values`` gives
    ``name = pattern.format(**values)``, builder arguments ``kwargs + values`` (an axis named
    ``fusion`` also fills the card's ``fusion``) and the card's ``source``
    ``source.format(**values, askc=<the fusion's original name>)``: the first of the fusion
    class's ``original_names`` unless ``askc_names`` (tag -> name) says otherwise. Example::

        register_family('cifar_{fusion}_resnet_b{blocks}', get_cifar_resnet,
                        axes=dict(fusion=FUSIONS, blocks=(1, 2, 3, 4)),
                        kwargs=dict(version='paper'), dataset='cifar100', version='paper',
                        host='resnet', source='...')

    Returns the names registered.
    """
    from ..nn.fusion import FUSIONS
    keys = list(axes)
    names = []
    default_fusion = card.pop('fusion', None)
    for values in itertools.product(*(axes[k] for k in keys)):
        values = dict(zip(keys, values))
        fixed = dict(kwargs or {}, **values)
        fusion = fixed.get('fusion', default_fusion)
        askc = (askc_names or {}).get(fusion) or FUSIONS[fusion].original_names[0]
        name = pattern.format(**values)
        register_model(name, builder, kwargs=fixed, fusion=fusion,
                       source=source.format(askc=askc, **values), **card)
        names.append(name)
    return names


def _entry(name):
    key = str(name).lower()
    if key not in _MODELS:
        close = difflib.get_close_matches(key, _MODELS, n=3)
        raise ValueError('unknown model %r%s; gluon_aff.get_model_list() lists the %d models'
                         % (name, ' (did you mean %s?)' % ', '.join(close) if close else '',
                            len(_MODELS)))
    return _MODELS[key]


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
        Override the builder's arguments (``card.kwargs``) and the host's constructor
        arguments (``classes``, ``fusion``, ``r``, ...).
    """
    entry = _entry(name)
    args = dict(entry.card.kwargs)
    args.update(kwargs)
    return entry.builder(name=entry.card.name, **args)


def get_model_list():
    """Names accepted by :func:`get_model`, sorted."""
    return sorted(_MODELS)


def get_model_card(name):
    """The :class:`ModelCard` of zoo model ``name`` (case-insensitive); ``ValueError`` for an
    unknown name, as :func:`get_model`."""
    card = _entry(name).card
    return dataclasses.replace(card, kwargs=dict(card.kwargs))


def find_models(**criteria):
    """Sorted names whose card matches every criterion.

    A criterion names a card field (``host='resnet', version='paper'``) or, otherwise, one of
    the builder's fixed arguments (``blocks=2``); a tuple, list or set value matches any of
    its members.
    """
    fields = {f.name for f in dataclasses.fields(ModelCard)}
    names = []
    for key, entry in sorted(_MODELS.items()):
        card = entry.card
        for field, want in criteria.items():
            if field in fields:
                have = getattr(card, field)
            elif field in card.kwargs:
                have = card.kwargs[field]
            else:
                break
            if not (have in want if isinstance(want, (tuple, list, set, frozenset))
                    else have == want):
                break
        else:
            names.append(key)
    return names


def get_host(host, dataset, version=None):
    """The builder of host family ``host`` on ``dataset`` (e.g. ``get_host('resnet',
    'cifar100')`` is :func:`~gluon_aff.model_zoo.get_cifar_resnet`); ``version`` keeps only the
    families with models of that code version."""
    if version is not None and version not in VERSIONS:
        raise ValueError('version must be one of %s, got %r' % (', '.join(VERSIONS), version))
    builders = {}
    for name in find_models(dataset=dataset, **({} if version is None else {'version': version})):
        entry = _MODELS[name]
        builders.setdefault(entry.card.host, entry.builder)
    if host not in builders:
        raise ValueError('unknown host %r for %s%s; choose one of %s'
                         % (host, dataset, '' if version is None else ' (%s version)' % version,
                            ', '.join(sorted(builders)) or '(none)'))
    return builders[host]
