"""ImageNet training and evaluation runs built on :func:`gluon_aff.training.fit`.

:func:`train_imagenet` wires the recipe (:mod:`gluon_aff.training.imagenet`), the input pipeline
(:mod:`gluon_aff.data.imagenet`), devices / kvstore and the shared training loop;
:func:`evaluate_imagenet` computes single-crop top-1 / top-5 errors of a checkpoint.
``scripts/train_imagenet.py`` and ``scripts/eval_imagenet.py`` are thin command lines over them.
"""
import contextlib
import logging
import os

import mxnet as mx
from mxnet import gluon

from ..cli import parse_gpus
from ..data import imagenet as imagenet_data
from .checkpoint import copy_checkpoint, seed_everything
from . import curves
from .engine import fit
from .imagenet import (DistillationLoss, DistillationTargets, EpochIterator, amp_loss_scaler,
                       create_kvstore, enable_amp, finish_kvstore, iters_per_epoch,
                       load_teacher, make_trainer, prepare_net, topk_errors)
from .recipe import BatchLogger, Recipe, get_recipe
from .run import Run, load_run, model_record

__all__ = ['parse_gpus', 'train_imagenet', 'evaluate_imagenet', 'plot_curves', 'build_model']


def build_model(model, classes=1000, **model_kwargs):
    """``gluon_aff.get_model(model, classes=classes, **model_kwargs)``."""
    from ..model_zoo import get_model
    return get_model(model, classes=classes, **model_kwargs)


def plot_curves(save_dir, filename='curves.png'):
    """Loss, lr and validation errors of ``save_dir/metrics.jsonl`` as ``save_dir/filename``."""
    return curves.plot_curves([save_dir], os.path.join(save_dir, filename),
                              panels=curves.IMAGENET_PANELS)


def train_imagenet(model, save_dir, recipe='final', rec_train=None, rec_train_idx=None,
                   rec_val=None, rec_val_idx=None, data_dir=None, gpus=None, kvstore='device',
                   update_on_kvstore=None, data_threads=4, classes=1000, model_kwargs=None,
                   resume=False, seed=None, save_frequency=10, progress=True, hybridize=True,
                   validate=True, logger=None, callbacks=(), overwrite=False, **overrides):
    """Train an ImageNet model with a recipe of the original; returns :func:`fit`'s result.

    Parameters
    ----------
    model : str
        Zoo name (``aff_resnet50``, ``iaff_resnext50_32x4d``, ``aff_resnet50_paper``...).
    save_dir : str
        Checkpoints (``last``, ``best``, ``epoch-NNNN`` every ``save_frequency`` epochs),
        ``train.log``, ``metrics.jsonl`` and ``curves.png``.
    recipe : str or Recipe
        A preset name (``final``, ``paper``, ``openaff-iaff-resnext50``, ...; see
        :mod:`gluon_aff.training.recipe`) or a :class:`~gluon_aff.training.recipe.Recipe`.
    rec_train, rec_train_idx, rec_val, rec_val_idx : str
        RecordIO input (the original's). Alternatively ``data_dir`` with ``train/`` and
        ``val/`` image folders.
    gpus : str
        ``'0,1,2,3'``; empty: CPU.
    kvstore : str
        ``device`` (single machine), ``dist_sync``, ``dist_device_sync``, ``horovod``.
    update_on_kvstore : bool or None
        For dist kvstores: update on the servers (MXNet's default, ``None``/True) or on the
        workers (False: full optimizer state in every checkpoint).
    seed : int or None
        Re-seeds every epoch (see :func:`fit`), RecordIO shuffling and augmentation included.
    callbacks : list
        Extra ``cb(epoch, row)`` called on every rank after each epoch.
    resume, overwrite : bool
        How rank 0 opens ``save_dir`` (a :class:`~gluon_aff.training.Run`): a run already there
        is refused unless continued (``resume``) or moved aside (``overwrite``).
    **overrides
        Recipe fields (``batch_size``: the total over all devices and workers, per device with
        ``per_device_batch=True``; ``lr``, for a total batch of ``lr_ref_batch``; ``epochs``,
        ``dtype``, ``amp``, ``init_from``, ``teacher``, ``log_interval``, ...); ``None`` keeps
        the preset's value.

    Returns :func:`fit`'s dict plus ``net``, ``trainer``, ``rank`` and ``num_workers``.
    """
    if isinstance(recipe, Recipe):
        if any(v is not None for v in overrides.values()):
            raise ValueError('give the recipe values in the Recipe, not as keywords')
        rcp = recipe.validate()
    else:
        rcp = get_recipe(recipe, 'imagenet', **overrides)
    if rcp.amp and rcp.dtype != 'float32':
        rcp.dtype = 'float32'  # AMP keeps float32 weights and casts inside the graph
    kv, rank, num_workers = create_kvstore(kvstore)
    ctx = parse_gpus(gpus)
    if rank == 0:
        Run.check(save_dir, resume, overwrite)  # before the data pipeline
    total = rcp.total_batch(len(ctx), num_workers)
    worker_batch = total // num_workers
    lr_value = rcp.scaled_lr(total)
    is_main = rank == 0
    size = rcp.input_size

    if rec_train:
        num_samples = imagenet_data.check_record_file(rec_train, rec_train_idx)
        source = 'RecordIO %s (%s)%s' % (rec_train, rec_train_idx, ', validation %s (%s)' % (
            rec_val, rec_val_idx) if validate and rec_val else '')
        if rcp.auto_augment:
            source += '; no AutoAugment on RecordIO input (as the original)'
        train_data = EpochIterator(
            lambda it_seed: imagenet_data.train_rec_iter(
                rec_train, rec_train_idx, worker_batch, size, data_threads,
                num_parts=num_workers, part_index=rank, seed=it_seed, check=False),
            num_batches=-(-num_samples // total))
        val_data = None
        if validate and rec_val and is_main:
            imagenet_data.check_record_file(rec_val, rec_val_idx)
            val_data = EpochIterator(lambda _: imagenet_data.val_rec_iter(
                rec_val, rec_val_idx, worker_batch, size, rcp.crop_ratio,
                num_workers=data_threads, check=False))
    elif data_dir:
        train_data, val_data = imagenet_data.folder_loaders(
            data_dir, worker_batch, size, rcp.crop_ratio, data_threads,
            val=validate and is_main, auto_augment=rcp.auto_augment)
        num_samples = len(train_data._dataset)
        source = 'image folders %s/train%s' % (data_dir, ' and %s/val' % data_dir
                                               if val_data is not None else '')
        if num_workers > 1:
            raise ValueError('image-folder input is single-worker; use RecordIO (--rec-train) '
                             'for distributed training')
    else:
        raise ValueError('give RecordIO files (rec_train/rec_train_idx) or an image folder '
                         '(data_dir)')
    iters = iters_per_epoch(num_samples, total)

    if rcp.amp:
        amp_module = enable_amp(rcp.amp_dtype)
    if seed is not None:
        seed_everything(seed)  # the initial weights too
    record = model_record(model, dict(model_kwargs or {}, classes=classes))
    net = build_model(model, classes=classes, **(model_kwargs or {}))
    prepare_net(net, ctx, rcp.dtype, rcp.init, rcp.no_wd, hybridize,
                init_from=None if resume else rcp.init_from, model=record)
    scheduler = rcp.lr_schedule(iters, total)
    trainer = make_trainer(net, scheduler, rcp.optimizer, rcp.momentum, rcp.wd, rcp.dtype, kv,
                           num_workers, update_on_kvstore)
    targets = rcp.soft_targets(classes, dtype=rcp.dtype)
    distill = bool(rcp.teacher) and rcp.hard_weight < 1.0  # the original's condition
    if distill:
        targets = DistillationTargets(load_teacher(rcp.teacher, classes, ctx, rcp.dtype,
                                                   hybridize), rcp.temperature, targets)
        loss_fn = DistillationLoss(rcp.temperature, rcp.hard_weight, targets.sparse_label)
    else:
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=targets.sparse_label)
    loss_scaler = amp_loss_scaler(amp_module, trainer, rcp.amp_dtype) if rcp.amp else None

    def val_fn(net_, ctx_):
        if val_data is None:
            return {}
        errs = topk_errors(net_, val_data, ctx_, rcp.dtype)
        return {'val_top1_err': errs['top1_err'], 'val_top5_err': errs['top5_err']}

    def periodic(epoch, row):
        if not is_main:
            return
        if save_frequency and (epoch + 1) % save_frequency == 0:
            copy_checkpoint(os.path.join(save_dir, 'last'),
                            os.path.join(save_dir, 'epoch-%04d' % epoch))
        plot_curves(save_dir)

    # the network is the checkpoint's model record (fit); the recipe as the other trainers
    info = dict(recipe=rcp.as_dict(), total_batch=total, worker_batch=worker_batch,
                devices=len(ctx), workers=num_workers, lr=lr_value, iters_per_epoch=iters,
                amp=rcp.amp_dtype if rcp.amp else None, kvstore=kvstore)
    with Run(save_dir, resume, overwrite) if is_main else contextlib.nullcontext() as run:
        if is_main:
            logger = logger or run.logger
            logger.info('data: %s, %d training images, %d classes', source, num_samples,
                        classes)
            logger.info('devices: %s x %d worker(s); total batch %d, %d iterations per epoch',
                        ', '.join(str(c) for c in ctx), num_workers, total, iters)
            logger.info('recipe: %s', info)
            if rcp.init_from and not resume:
                logger.info('warm start: weights of %s; fresh optimizer and lr schedule',
                            rcp.init_from)
            if distill:
                logger.info('distillation: teacher %s, temperature %g, hard weight %g',
                            rcp.teacher, rcp.temperature, rcp.hard_weight)
        else:
            logger = logger or logging.getLogger('gluon_aff.worker')
        result = fit(net, trainer, train_data, rcp.epochs, save_dir, ctx=ctx,
                     loss_fn=loss_fn, val_fn=val_fn, batch_fn=imagenet_data.train_split_batch,
                     batch_transform=targets, train_metric=mx.metric.Accuracy(),
                     resume=resume, seed=seed, rank=rank, best_key='val_top1_err',
                     best_mode='min', checkpoint_info=info,
                     callbacks=[periodic] + list(callbacks), logger=logger,
                     progress=progress and is_main,
                     loss_scaler=loss_scaler, model=record,
                     batch_callbacks=[BatchLogger(rcp.log_interval, logger)]
                     if rcp.log_interval and is_main else [])
    finish_kvstore(kv)  # the last step is still in flight (see finish_kvstore)
    result.update(net=net, trainer=trainer, rank=rank, num_workers=num_workers)
    return result


def evaluate_imagenet(model, params, rec_val, rec_val_idx, gpus=None, batch_size=100,
                      input_size=224, crop_ratio=0.875, resize=None, dtype='float32',
                      classes=None, model_kwargs=None, data_threads=4, hybridize=True):
    """Single-crop top-1 / top-5 errors of ``params`` on the validation RecordIO.

    ``params``: a run folder, a checkpoint prefix or file (:func:`~gluon_aff.training.load_run`)
    or an original open-aff ``.params`` of ``model``. ``classes`` and ``model_kwargs`` build
    ``model`` for a bare file and override a checkpoint's record (``classes=None``: keep it).
    ``batch_size`` is per device. ``resize`` defaults to ``ceil(input_size / crop_ratio)`` (256
    for 224). Returns ``{'top1_err', 'top5_err', 'num_samples'}``.
    """
    ctx = parse_gpus(gpus)
    if batch_size <= 0:
        raise ValueError('batch size must be positive, got %d' % batch_size)
    kwargs = dict(model_kwargs or {})
    if classes is not None:
        kwargs['classes'] = classes
    net, _ = load_run(params, model=model, model_kwargs=kwargs, ctx=ctx)
    val_iter = imagenet_data.val_rec_iter(rec_val, rec_val_idx, batch_size * len(ctx),
                                          input_size, crop_ratio, resize,
                                          num_workers=data_threads)
    net.cast(dtype)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    return topk_errors(net, val_iter, ctx, dtype)
