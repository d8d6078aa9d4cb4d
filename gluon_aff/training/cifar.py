"""CIFAR recipes of the paper and of the final open-aff code, run through :func:`fit`.

Two recipes (every value can be overridden):

``final`` - the released open-aff ``train_cifar.py`` with the flags of its published runs:
  NAG (momentum 0.9), lr 0.2, wd 1e-4 without decay on BN gamma/beta and biases (``--no-wd``),
  640 epochs, 10 linear warm-up epochs from 0 then cosine to 0, mixup alpha 1 switched off for the
  last 40 epochs, label smoothing 0.1, batch 128 per device, Xavier init.
``paper`` - Table 2 + appendix: NAG (momentum 0.9), lr 0.2, batch 128, 400 epochs, wd 1e-4, step
  decay x0.1 at epochs 300 and 350 (appendix), no warm-up, no mixup, no label smoothing. Init is
  Xavier as the original code did; the paper's "Kaiming" is ``init='kaiming'``.

Labels: 20 coarse super-classes by default (as the paper); the head has 100 outputs by default,
because the original built a 100-way head for ``cifar100`` whatever the label set
(``classes=20`` gives a 20-way head).

Batch size: ``batch_size`` is the total over all devices; ``per_device_batch=True`` reproduces
the original, where it was per device (total = batch_size x devices).

Learning rate: a gluoncv ``LRSequential``/``LRScheduler`` handed to the optimizer, evaluated at
the optimizer's update count (``num_update = epoch * iters_per_epoch + batch + 1``; the
warm-up/cosine pair is built as in the original, the step schedule with ``offset=1`` so each
decay starts exactly with the first batch of its epoch).
"""
import copy
import os
from dataclasses import asdict, dataclass, field, fields

import mxnet as mx
import numpy as np
from mxnet import gluon, nd

from ..model_zoo import find_models, get_host, get_model, get_model_card
from .checkpoint import require_checkpoint, seed_everything
from .engine import as_context_list, check_batch_size, classification_validator, clip_warmup, fit
from .run import open_run
from .schedule import build_lr_schedule

__all__ = ['CIFARRecipe', 'RECIPES', 'get_recipe', 'build_lr_scheduler', 'build_cifar_model',
           'cifar_model_spec', 'MixupTransform', 'apply_no_wd', 'make_initializer',
           'train_classifier', 'total_batch_size', 'per_class_accuracy', 'INITIALIZERS']


@dataclass
class CIFARRecipe(object):
    """Every hyper-parameter of a CIFAR run (see the module docstring for the two presets)."""
    name: str = 'final'
    epochs: int = 640
    batch_size: int = 128
    per_device_batch: bool = False
    lr: float = 0.2
    optimizer: str = 'nag'
    momentum: float = 0.9
    wd: float = 1e-4
    no_wd: bool = True
    lr_mode: str = 'cosine'
    warmup_epochs: int = 10
    warmup_lr: float = 0.0
    lr_decay: float = 0.1
    lr_decay_epochs: tuple = ()
    mixup: bool = True
    mixup_alpha: float = 1.0
    mixup_off_epochs: int = 40
    label_smoothing: float = 0.1
    init: str = 'xavier'
    extra: dict = field(default_factory=dict)

    def validate(self):
        """Raise ``ValueError`` naming the first inconsistent value."""
        if self.epochs <= 0 or self.batch_size <= 0 or self.lr < 0:
            raise ValueError('epochs (%d), batch size (%d) and lr (%g) must be positive'
                             % (self.epochs, self.batch_size, self.lr))
        if self.lr_mode not in ('cosine', 'step'):
            raise ValueError("lr_mode must be 'cosine' or 'step', got %r" % (self.lr_mode,))
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError('warmup_epochs %d must be in [0, epochs=%d)'
                             % (self.warmup_epochs, self.epochs))
        if self.init not in INITIALIZERS:
            raise ValueError('init must be one of %s, got %r' % (sorted(INITIALIZERS), self.init))
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError('label_smoothing must be in [0, 1), got %r' % self.label_smoothing)
        if self.mixup and self.mixup_alpha <= 0:
            raise ValueError('mixup_alpha must be positive, got %r' % self.mixup_alpha)
        return self


RECIPES = {
    'final': CIFARRecipe(),
    'paper': CIFARRecipe(name='paper', epochs=400, no_wd=False, lr_mode='step', warmup_epochs=0,
                         lr_decay_epochs=(300, 350), mixup=False, label_smoothing=0.0),
}

#: ``xavier`` = ``mx.init.Xavier()`` as the original; ``kaiming`` = He normal for ReLU (paper)
INITIALIZERS = {'xavier': lambda: mx.init.Xavier(),
                'kaiming': lambda: mx.init.MSRAPrelu(factor_type='in', slope=0.0)}


def get_recipe(name, **overrides):
    """A copy of recipe ``name`` (``'final'`` or ``'paper'``) with ``overrides`` (None = keep)."""
    if name not in RECIPES:
        raise ValueError('unknown recipe %r; choose one of %s' % (name, sorted(RECIPES)))
    recipe = copy.deepcopy(RECIPES[name])
    known = {f.name for f in fields(CIFARRecipe)}
    for key, value in overrides.items():
        if key not in known:
            raise ValueError('unknown recipe field %r' % key)
        if value is not None:
            setattr(recipe, key, tuple(value) if key == 'lr_decay_epochs' else value)
    recipe.warmup_epochs = clip_warmup(recipe.epochs, recipe.warmup_epochs)
    return recipe.validate()


def make_initializer(name):
    """The initializer called ``name`` in :data:`INITIALIZERS`."""
    if name not in INITIALIZERS:
        raise ValueError('unknown init %r; choose one of %s' % (name, sorted(INITIALIZERS)))
    return INITIALIZERS[name]()


def total_batch_size(batch_size, num_devices, per_device_batch):
    """Total batch: ``batch_size * num_devices`` if per device, else ``batch_size`` (checked)."""
    total = batch_size * num_devices if per_device_batch else batch_size
    check_batch_size(total, num_devices)
    return total


def build_lr_scheduler(recipe, iters_per_epoch):
    """The recipe's schedule (:func:`gluon_aff.training.schedule.build_lr_schedule`).

    ``cosine``: linear warm-up ``warmup_lr -> lr`` over ``warmup_epochs``, then cosine to 0 (the
    original's ``LRSequential``). ``step``: ``lr`` times ``lr_decay`` from the first batch of each
    epoch in ``lr_decay_epochs``; after a warm-up, gluoncv's update-counted step (each decay one
    batch early).
    """
    mode = 'epoch-step' if recipe.lr_mode == 'step' and not recipe.warmup_epochs \
        else recipe.lr_mode
    return build_lr_schedule(recipe.lr, recipe.epochs, iters_per_epoch, mode,
                             recipe.warmup_epochs, recipe.warmup_lr, recipe.lr_decay_epochs,
                             recipe.lr_decay)


class MixupTransform(object):
    """Batch transform for :func:`fit`: mixup and/or label smoothing, as the original.

    Per device slice ``X`` with labels ``y``: ``lam ~ Beta(alpha, alpha)`` (one draw per batch,
    NumPy RNG; ``lam = 1`` from epoch ``off_epoch`` on), inputs ``lam X + (1 - lam) X[::-1]`` and
    targets ``lam s(y) + (1 - lam) s(y[::-1])`` where ``s`` is the one-hot vector smoothed to
    ``1 - eta + eta / classes`` / ``eta / classes``.

    Parameters
    ----------
    classes : int
        Width of the target vectors (the head size).
    alpha : float or None
        Beta parameter; ``None`` disables mixup (label smoothing only).
    off_epoch : int or None
        First epoch trained without mixup (the original: ``epochs - mixup_off_epochs``).
    smoothing : float, default 0.0
        Label smoothing ``eta``.
    """

    def __init__(self, classes, alpha=None, off_epoch=None, smoothing=0.0):
        self.classes, self.alpha, self.off_epoch, self.smoothing = classes, alpha, off_epoch, \
            smoothing

    def _targets(self, label):
        eta = self.smoothing
        return label.one_hot(self.classes, on_value=1 - eta + eta / self.classes,
                             off_value=eta / self.classes)

    def __call__(self, data, labels, epoch):
        if self.alpha is None:
            return data, [self._targets(y) for y in labels]
        lam = float(np.random.beta(self.alpha, self.alpha))
        if self.off_epoch is not None and epoch >= self.off_epoch:
            lam = 1.0
        data = [lam * x + (1 - lam) * x[::-1] for x in data]
        targets = [lam * self._targets(y) + (1 - lam) * self._targets(y[::-1]) for y in labels]
        return data, targets


def apply_no_wd(net):
    """Switch weight decay off for BN gamma/beta and every bias (the original ``--no-wd``)."""
    for param in net.collect_params('.*beta|.*gamma|.*bias').values():
        param.wd_mult = 0.0


def cifar_model_spec(model=None, host=None, fusion='aff', blocks=None, version='final',
                     classes=100):
    """``(zoo name, kwargs)`` of a CIFAR network given by zoo name or by host + fusion + blocks.

    The host form names the zoo model that is exactly that network where there is one
    (``resnet``/``paper``/``aff``/2 blocks -> ``cifar_aff_resnet_b2``), else a model of the same
    host family (:func:`~gluon_aff.model_zoo.get_host`) with ``fusion``/``blocks``/``version``
    overrides; ``classes`` is passed when not 100. ``get_model(name, **kwargs)`` is the network
    and the pair is what a checkpoint records (:func:`~gluon_aff.training.run.model_record`).
    """
    import inspect
    if (model is None) == (host is None):
        raise ValueError('give either a zoo model name or a host (resnet/resnext), not %s'
                         % ('both' if model else 'neither'))
    kwargs = {} if classes == 100 else {'classes': classes}
    if model is not None:
        return model, kwargs
    builder = get_host(host, 'cifar100', version)  # the zoo's CIFAR host families
    if blocks is not None and blocks <= 0:
        raise ValueError('blocks must be positive, got %d' % blocks)
    defaults = {k: p.default for k, p in inspect.signature(builder).parameters.items()
                if k in ('fusion', 'blocks', 'version')}
    want = dict(defaults, fusion=fusion, version=version,
                **({} if blocks is None else {'blocks': blocks}))
    family = [n for n in find_models(dataset='cifar100', host=host, version=version)
              if set(get_model_card(n).kwargs) <= set(defaults)]
    for name in family:
        if dict(defaults, **get_model_card(name).kwargs) == want:
            return name, kwargs
    return family[0], dict(kwargs, **want)


def build_cifar_model(model=None, host=None, fusion='aff', blocks=None, version='final',
                      classes=100):
    """A CIFAR network from a zoo name, or from host + fusion + blocks.

    Parameters
    ----------
    model : str or None
        A name of :func:`gluon_aff.get_model_list` (e.g. ``cifar_aff_resnet32``).
    host : {'resnet', 'resnext'} or None
        Used when ``model`` is None, with ``fusion`` (a fusion tag), ``blocks`` (per stage,
        default 5 for resnet, 4 for resnext) and ``version`` (``final`` or ``paper``).
    classes : int, default 100
        Head size (100 as the original, even for the 20 coarse labels).

    The network is ``get_model(*cifar_model_spec(...))`` (see :func:`cifar_model_spec`).
    """
    name, kwargs = cifar_model_spec(model, host, fusion, blocks, version, classes)
    return get_model(name, **kwargs)


def per_class_accuracy(net, data, num_classes, ctx=None):
    """Top-1 accuracy per label over ``data``: ``(overall, counts, correct)`` numpy arrays."""
    ctx = as_context_list(ctx)
    counts = np.zeros(num_classes, dtype=np.int64)
    correct = np.zeros(num_classes, dtype=np.int64)
    for batch in data:
        outputs = net(batch[0].as_in_context(ctx[0])).argmax(axis=1).asnumpy().astype(np.int64)
        labels = batch[1].asnumpy().astype(np.int64)
        np.add.at(counts, labels, 1)
        np.add.at(correct, labels, outputs == labels)
    return correct.sum() / max(counts.sum(), 1), counts, correct


def train_classifier(net, train_set, val_set, recipe, save_dir, ctx=None, classes=None,
                     seed=0, resume=False, num_workers=0, checkpoint_info=None, hybridize=True,
                     logger=None, progress=True, callbacks=(), transforms=None, model=None,
                     amp=None):
    """Train an image classifier with ``recipe`` through :func:`fit`; return its result dict.

    ``save_dir`` is a folder or an open :class:`~gluon_aff.training.Run` (a folder is opened as
    one around the training: a run already there is refused unless ``resume``). ``model`` is
    the network's record (:func:`~gluon_aff.training.run.model_record`) saved in every
    checkpoint.

    ``train_set``/``val_set`` hold ``(HWC uint8 image, label)`` pairs and are transformed with
    the original CIFAR transforms. ``classes`` is the head size (for the mixup/smoothing
    targets; default: the size of the net's output layer as built). The initialisation follows
    ``recipe.init``; with ``resume`` the parameters, trainer states and epoch come from
    ``save_dir/last``. ``transforms`` = ``(train, val)`` replaces the CIFAR transforms.
    ``amp`` = ``'bfloat16'`` (CPU, fastest with avx512_bf16) or ``'float16'`` (GPU, with AMP's
    dynamic loss scaling) trains with ``mxnet.contrib.amp``: float32 weights and checkpoints,
    convolutions and dense layers computed in ``amp``. AMP patches MXNet's operators for the
    whole process, so ``net`` must not have run before.
    """
    from ..data.cifar import cifar_transforms
    ctx = as_context_list(ctx)
    recipe.validate()
    if amp not in (None, 'bfloat16', 'float16'):
        raise ValueError("amp must be None, 'bfloat16' or 'float16', got %r" % (amp,))
    if amp:
        from .imagenet import enable_amp
        amp_module = enable_amp(amp)
    if resume:
        require_checkpoint(str(getattr(save_dir, 'dir', save_dir)))  # before the data pipeline
    batch = total_batch_size(recipe.batch_size, len(ctx), recipe.per_device_batch)
    seed_everything(seed)
    train_tf, val_tf = transforms or (cifar_transforms(train=True), cifar_transforms(train=False))
    train_data = gluon.data.DataLoader(
        train_set.transform_first(train_tf), batch_size=batch, shuffle=True,
        last_batch='discard', num_workers=num_workers)
    val_data = gluon.data.DataLoader(
        val_set.transform_first(val_tf), batch_size=batch, shuffle=False,
        num_workers=num_workers)
    if len(train_data) == 0:
        raise ValueError('the training set (%d images) is smaller than one batch (%d)'
                         % (len(train_set), batch))

    net.initialize(make_initializer(recipe.init), ctx=ctx, force_reinit=True)
    if classes is None:
        classes = net(nd.zeros((1, 3, 32, 32), ctx=ctx[0])).shape[1]
    if hybridize:
        net.hybridize()
    if recipe.no_wd:
        apply_no_wd(net)
    scheduler = build_lr_scheduler(recipe, len(train_data))
    params = {'wd': recipe.wd, 'lr_scheduler': scheduler}
    if recipe.optimizer in ('nag', 'sgd'):
        params['momentum'] = recipe.momentum
    trainer = gluon.Trainer(net.collect_params(), recipe.optimizer, params)
    loss_scaler = None
    if amp == 'float16':
        amp_module.init_trainer(trainer)
        loss_scaler = amp_module.scale_loss

    soft = recipe.mixup or recipe.label_smoothing > 0
    transform = None
    if soft:
        transform = MixupTransform(
            classes, alpha=recipe.mixup_alpha if recipe.mixup else None,
            off_epoch=recipe.epochs - recipe.mixup_off_epochs, smoothing=recipe.label_smoothing)
    info = dict(checkpoint_info or {}, recipe=asdict(recipe), classes=int(classes),
                batch_size_total=batch, devices=len(ctx), amp=amp)
    with open_run(save_dir, resume=resume) as run:
        logger = logger or run.logger
        logger.info('sizes: %d training / %d validation images, %d-way head', len(train_set),
                    len(val_set), classes)
        logger.info('devices: %s; total batch %d, %d iterations per epoch',
                    ', '.join(str(c) for c in ctx), batch, len(train_data))
        logger.info('recipe: %s', asdict(recipe))
        return fit(net, trainer, train_data, recipe.epochs, run.dir, ctx=ctx,
                   loss_fn=gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=not soft),
                   val_fn=classification_validator(val_data), batch_transform=transform,
                   resume=resume, seed=seed, checkpoint_info=info, logger=logger,
                   progress=progress, model=model, loss_scaler=loss_scaler,
                   callbacks=[_CurvesCallback(run.dir)] + list(callbacks))


class _CurvesCallback(object):
    """Redraw ``save_dir/curves.png`` after every epoch (rank 0 only writes metrics)."""

    def __init__(self, save_dir):
        self.save_dir = save_dir

    def __call__(self, epoch, row):
        from .curves import plot_curves
        plot_curves([self.save_dir], os.path.join(self.save_dir, 'curves.png'))
