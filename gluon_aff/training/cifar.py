"""CIFAR training (CIFAR-100 and CIFAR-10) with a :class:`~gluon_aff.training.recipe.Recipe`,
run through :func:`fit`.

The recipes are the recipe layer's (:mod:`gluon_aff.training.recipe`): ``final`` (the final
open-aff code from scratch, as its logs ran it), ``final-cosine`` (its warm-started ``--cosine``
stages), ``paper`` (the paper-version code) and one per released model
(``openaff-aff-resnet32:1`` ...). This module builds the network, the data pipeline and the
trainer from one.

Labels: 20 coarse super-classes by default (as the paper); the head has 100 outputs by default,
because the original built a 100-way head for ``cifar100`` whatever the label set
(``classes=20`` gives a 20-way head); CIFAR-10 has a 10-way head, as the original's
``--dataset cifar10``.

Batch size: ``recipe.batch_size`` is the total over all devices; ``per_device_batch`` reproduces
the original, where it was per device (total = batch_size x devices). The lr is used as given.
"""
import os

import numpy as np
from mxnet import gluon, nd

from ..model_zoo import find_models, get_host, get_model, get_model_card
from .checkpoint import require_checkpoint, seed_everything
from .engine import as_context_list, classification_validator, fit
from .recipe import BatchLogger, apply_no_wd, make_initializer, warm_start
from .run import open_run

__all__ = ['build_cifar_model', 'cifar_model_spec', 'train_classifier', 'per_class_accuracy']


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
                     logger=None, progress=True, callbacks=(), transforms=None, model=None):
    """Train an image classifier with ``recipe`` (a :class:`~gluon_aff.training.recipe.Recipe`)
    through :func:`fit`; return its result dict.

    ``save_dir`` is a folder or an open :class:`~gluon_aff.training.Run` (a folder is opened as
    one around the training: a run already there is refused unless ``resume``). ``model`` is
    the network's record (:func:`~gluon_aff.training.run.model_record`) saved in every
    checkpoint; ``recipe.init_from`` (warm start) needs it.

    ``train_set``/``val_set`` hold ``(HWC uint8 image, label)`` pairs and are transformed with
    the original CIFAR transforms (AutoAugment first when ``recipe.auto_augment``).
    ``classes`` is the head size (for the mixup/smoothing targets; default: the size of the
    net's output layer as built). The initialisation follows ``recipe.init``, then
    ``recipe.init_from`` loads weights only (fresh optimizer and schedule, the original's
    ``--resume-from``); with ``resume`` the parameters, trainer states and epoch come from
    ``save_dir/last`` instead. ``transforms`` = ``(train, val)`` replaces the CIFAR transforms.
    ``recipe.amp`` trains with ``mxnet.contrib.amp`` in ``recipe.amp_dtype`` (bfloat16 on CPUs
    with avx512_bf16, float16 with dynamic loss scaling on GPUs): float32 weights and
    checkpoints, convolutions and dense layers in the lower precision. AMP patches MXNet's
    operators for the whole process, so ``net`` must not have run before.
    """
    from ..data.cifar import cifar_transforms
    ctx = as_context_list(ctx)
    recipe.validate()
    if recipe.amp:
        from .imagenet import amp_loss_scaler, enable_amp
        amp_module = enable_amp(recipe.amp_dtype)
    if resume:
        require_checkpoint(str(getattr(save_dir, 'dir', save_dir)))  # before the data pipeline
    if recipe.init_from and model is None:
        raise ValueError('recipe.init_from needs the network\'s record (model=model_record(...))')
    batch = recipe.total_batch(len(ctx))
    seed_everything(seed)
    train_tf, val_tf = transforms or (cifar_transforms(train=True,
                                                       auto_augment=recipe.auto_augment),
                                      cifar_transforms(train=False))
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
    started_from = None
    if recipe.init_from and not resume:
        started_from = warm_start(net, recipe.init_from, model, ctx)
    if hybridize:
        net.hybridize()
    if recipe.no_wd:
        apply_no_wd(net)
    scheduler = recipe.lr_schedule(len(train_data), batch)
    trainer = gluon.Trainer(net.collect_params(), recipe.optimizer,
                            recipe.optimizer_params(scheduler))
    loss_scaler = amp_loss_scaler(amp_module, trainer, recipe.amp_dtype) if recipe.amp else None
    transform = recipe.soft_targets(classes)
    info = dict(checkpoint_info or {}, recipe=recipe.as_dict(), classes=int(classes),
                batch_size_total=batch, devices=len(ctx),
                amp=recipe.amp_dtype if recipe.amp else None)
    with open_run(save_dir, resume=resume) as run:
        logger = logger or run.logger
        logger.info('sizes: %d training / %d validation images, %d-way head', len(train_set),
                    len(val_set), classes)
        logger.info('devices: %s; total batch %d, %d iterations per epoch',
                    ', '.join(str(c) for c in ctx), batch, len(train_data))
        logger.info('recipe: %s', recipe.as_dict())
        if started_from is not None:
            logger.info('warm start: weights of %s (epoch %s of its run); fresh optimizer and '
                        'lr schedule', recipe.init_from, started_from.get('epoch'))
        return fit(net, trainer, train_data, recipe.epochs, run.dir, ctx=ctx,
                   loss_fn=gluon.loss.SoftmaxCrossEntropyLoss(
                       sparse_label=transform is None or transform.sparse_label),
                   val_fn=classification_validator(val_data), batch_transform=transform,
                   resume=resume, seed=seed, checkpoint_info=info, logger=logger,
                   progress=progress, model=model, loss_scaler=loss_scaler,
                   callbacks=[_CurvesCallback(run.dir)] + list(callbacks),
                   batch_callbacks=[BatchLogger(recipe.log_interval, logger)]
                   if recipe.log_interval else [])


class _CurvesCallback(object):
    """Redraw ``save_dir/curves.png`` after every epoch (rank 0 only writes metrics)."""

    def __init__(self, save_dir):
        self.save_dir = save_dir

    def __call__(self, epoch, row):
        from .curves import plot_curves
        plot_curves([self.save_dir], os.path.join(self.save_dir, 'curves.png'))
