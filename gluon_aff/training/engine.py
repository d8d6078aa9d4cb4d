"""A task-independent, resumable training loop shared by every trainer of this project.

The CIFAR (``scripts/train_cifar.py``), ImageNet and segmentation trainers differ only in their
data, loss, batch transform (mixup) and validation; the epoch/batch loop, device split,
checkpointing, metrics file, resume and NaN guard live here once.

API
---
:func:`fit` ``(net, trainer, train_data, epochs, save_dir, ctx=None, loss_fn=None, val_fn=None,
batch_fn=split_batch, batch_transform=None, train_metric=None, even_split=True, resume=False,
seed=None, rank=0, best_key='val_acc', best_mode='max', checkpoint_info=None, callbacks=(),
logger=None, progress=True, loss_scaler=None, model=None, batch_callbacks=(),
forward_backward=None)`` runs epochs
``[start, epochs)`` and
returns a dict
``{'best': value, 'best_epoch': int, 'last': last metrics row, 'save_dir': path}``.

* ``net`` is an initialised (optionally hybridized) block; ``trainer`` a :class:`gluon.Trainer`
  whose learning rate comes from an ``lr_scheduler`` in its optimizer params (e.g. gluoncv
  ``LRSequential([LRScheduler('linear', ...), LRScheduler('cosine', ...)])``). The schedule is
  therefore driven by the optimizer's own update counter and works unchanged with
  ``update_on_kvstore``; it is saved with the trainer states, so a resumed run continues the same
  schedule (the pickled scheduler wins over a newly built one).
* ``train_data`` is any iterable of batches (a gluon ``DataLoader``). ``batch_fn(batch, ctx,
  even_split)`` returns ``(data_list, label_list)``, one entry per context; the default
  :func:`split_batch` takes ``batch[0], batch[1]`` and splits them with
  ``gluon.utils.split_and_load``. With ``even_split=True`` a batch that does not divide by the
  number of devices raises a ``ValueError`` naming both numbers (:func:`check_batch_size` does the
  same check up front).
* ``batch_transform(data_list, label_list, epoch)`` returns ``(data_list, target_list)``: the hook
  for mixup / label smoothing (targets may be soft labels). ``loss_fn(output, target)`` returns
  per-sample losses (default ``SoftmaxCrossEntropyLoss``). ``trainer.step`` is called with the
  number of samples in the batch, so the gradient is the mean over the whole (multi-device) batch.
* ``forward_backward(net, data_list, target_list, loss_fn)``: replaces the recorded forward and
  the backward pass, returning ``(outputs, losses)`` (one entry per context) with the gradients
  in place, e.g. gradient accumulation over micro-batches
  (:func:`~gluon_aff.training.segmentation.accumulating_forward_backward`).
* ``loss_scaler(losses, trainer)``: a context manager yielding the losses to differentiate,
  e.g. ``mxnet.contrib.amp.scale_loss`` for AMP's dynamic loss scaling (after
  ``amp.init_trainer(trainer)``). The logged loss stays the unscaled one.
* ``train_metric`` (an ``mx.metric.EvalMetric``, default ``Accuracy``) is updated with the *hard*
  labels and the outputs; ``val_fn(net, ctx)`` returns a dict of validation metrics (e.g.
  ``{'val_acc': 0.91}``, see :func:`classification_validator`), merged into the epoch row.
* Every epoch, rank 0 appends a row to ``save_dir/metrics.jsonl`` (``epoch, train_loss,
  train_<metric>, lr, time, samples_per_sec`` + validation metrics), then writes the atomic
  checkpoint ``save_dir/last`` (params, trainer states, epoch, best value, RNG states, the row,
  ``checkpoint_info`` and ``model``, the record of :func:`~gluon_aff.training.run.model_record`
  that :func:`~gluon_aff.training.load_run` rebuilds the network from) and, when ``best_key``
  improved, ``save_dir/best``. ``callbacks`` are called as ``cb(epoch, row)`` afterwards on every
  rank. The folder itself (refusing to overwrite a run, the lock, the log) is the caller's
  :class:`~gluon_aff.training.Run`.
* ``batch_callbacks`` are called after every update as ``cb(epoch, batch, batch_size, trainer,
  train_metric)`` (0-based ``batch``; ``trainer.learning_rate`` is the lr of that update), on
  every rank; they only read, so the arithmetic is the same with or without them (e.g.
  :class:`~gluon_aff.training.recipe.BatchLogger`, the original's ``--log-interval`` line).
* ``resume=True`` finishes an interrupted checkpoint write, loads ``save_dir/last``
  (``FileNotFoundError`` if none) and continues with the next epoch, the same best value and a
  ``metrics.jsonl`` trimmed to the finished epochs.
* ``seed``: when given, Python, NumPy and MXNet are re-seeded at the start of every epoch with
  :func:`epoch_seed` ``(seed, epoch)``. Shuffling (NumPy), augmentation and mixup draws of an epoch
  then depend only on ``(seed, epoch)``, which makes a resumed run repeat an uninterrupted one
  exactly on CPU with ``num_workers=0`` (worker processes keep their own RNG streams).
* A NaN/inf batch loss raises :class:`~gluon_aff.training.NonFiniteLossError` *before*
  ``trainer.step``; the message names the epoch, the batch and the last good checkpoint, which is
  left untouched.
* ``rank``: only rank 0 (``is_main``) shows the progress bar and writes files; all ranks resume
  from the same ``save_dir``.
"""
import logging
import math
import os
import time

import mxnet as mx
from mxnet import autograd, gluon
from tqdm import tqdm

from .checkpoint import (copy_checkpoint, latest_checkpoint, load_checkpoint,
                         recover_checkpoint, require_checkpoint, save_checkpoint,
                         seed_everything)
from .runlog import MetricsWriter, check_finite

__all__ = ['fit', 'split_batch', 'check_batch_size', 'evaluate', 'classification_validator',
           'epoch_seed', 'as_context_list', 'clip_warmup']


def as_context_list(ctx):
    """``None`` -> ``[mx.cpu()]``; a single context -> ``[ctx]``; a list is returned as a list."""
    if ctx is None:
        return [mx.cpu()]
    if isinstance(ctx, mx.Context):
        return [ctx]
    ctx = list(ctx)
    if not ctx:
        raise ValueError('empty context list: give at least one device (or None for the CPU)')
    return ctx


def check_batch_size(batch_size, num_devices):
    """Raise ``ValueError`` unless ``batch_size`` splits evenly over ``num_devices`` devices."""
    if batch_size <= 0:
        raise ValueError('batch size must be positive, got %d' % batch_size)
    if batch_size % num_devices:
        raise ValueError(
            'batch size %d is not divisible by the number of devices %d: use a multiple of %d '
            '(or give the per-device batch size)' % (batch_size, num_devices, num_devices))


def clip_warmup(epochs, warmup_epochs):
    """``warmup_epochs`` clipped to ``epochs - 1`` (with a warning) so a schedule keeps at least
    one epoch after its warm-up: a smoke run (``--recipe final --epochs 1``) trains."""
    if epochs > 0 and warmup_epochs >= epochs:
        import warnings
        from ..errors import UserNotice
        clipped = epochs - 1
        warnings.warn('a warm-up of %d epochs does not fit a run of %d epoch(s): clipped to %d '
                      'warm-up epoch(s)' % (warmup_epochs, epochs, clipped), UserNotice,
                      stacklevel=2)
        return clipped
    return warmup_epochs


def split_batch(batch, ctx, even_split=True):
    """Split ``(data, label)`` of a batch over the contexts ``ctx`` (a list).

    Returns ``(data_list, label_list)``. With ``even_split`` the batch size must be divisible by
    ``len(ctx)`` (clear ``ValueError`` otherwise); without it the last device gets the rest.
    """
    data, label = batch[0], batch[1]
    if even_split:
        check_batch_size(data.shape[0], len(ctx))
    return (gluon.utils.split_and_load(data, ctx_list=ctx, batch_axis=0, even_split=even_split),
            gluon.utils.split_and_load(label, ctx_list=ctx, batch_axis=0, even_split=even_split))


def epoch_seed(seed, epoch):
    """The seed used for ``epoch`` of a run seeded with ``seed`` (fits in 31 bits)."""
    return (int(seed) * 1000003 + int(epoch)) % (2 ** 31 - 1)


def evaluate(net, data, ctx=None, metric=None, batch_fn=split_batch):
    """Run ``net`` over ``data`` and return ``metric`` (default ``Accuracy``) as ``(name, value)``.

    Batches are split over ``ctx`` without requiring an even split (the last test batch is
    usually smaller).
    """
    ctx = as_context_list(ctx)
    metric = metric if metric is not None else mx.metric.Accuracy()
    metric.reset()
    for batch in data:
        inputs, labels = batch_fn(batch, ctx, False)
        outputs = [net(x) for x in inputs]
        metric.update(labels, outputs)
    return metric.get()


def classification_validator(val_data, prefix='val_', batch_fn=split_batch):
    """A ``val_fn`` for :func:`fit`: top-1 accuracy on ``val_data`` as ``{prefix + 'acc': a}``."""
    def val_fn(net, ctx):
        _, value = evaluate(net, val_data, ctx, mx.metric.Accuracy(), batch_fn)
        return {prefix + 'acc': float(value)}
    return val_fn


def _metric_items(metric):
    names, values = metric.get()
    if not isinstance(names, (list, tuple)):
        names, values = [names], [values]
    short = {'accuracy': 'acc'}
    return [('train_' + short.get(n, str(n).replace('-', '_')), float(v))
            for n, v in zip(names, values)]


def _is_better(value, best, mode):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value > best if mode == 'max' else value < best


def fit(net, trainer, train_data, epochs, save_dir, ctx=None, loss_fn=None, val_fn=None,
        batch_fn=split_batch, batch_transform=None, train_metric=None, even_split=True,
        resume=False, seed=None, rank=0, best_key='val_acc', best_mode='max',
        checkpoint_info=None, callbacks=(), logger=None, progress=True, loss_scaler=None,
        model=None, batch_callbacks=(), forward_backward=None):
    """Train ``net`` for epochs ``[start, epochs)``; see the module docstring for every argument.

    Returns ``{'best': best value or None, 'best_epoch': int or None, 'last': last row or None,
    'save_dir': save_dir}``.
    """
    if best_mode not in ('max', 'min'):
        raise ValueError("best_mode must be 'max' or 'min', got %r" % (best_mode,))
    if forward_backward is not None and loss_scaler is not None:
        raise ValueError('forward_backward and loss_scaler cannot be combined')
    if epochs <= 0:
        raise ValueError('epochs must be positive, got %d' % epochs)
    ctx = as_context_list(ctx)
    is_main = rank == 0
    logger = logger or logging.getLogger('gluon_aff')
    loss_fn = loss_fn if loss_fn is not None else gluon.loss.SoftmaxCrossEntropyLoss()
    train_metric = train_metric if train_metric is not None else mx.metric.Accuracy()
    last_prefix = os.path.join(save_dir, 'last')
    best_prefix = os.path.join(save_dir, 'best')

    start_epoch, best, best_epoch = 0, None, None
    if resume:
        if is_main:
            for prefix in (last_prefix, best_prefix):
                recover_checkpoint(prefix)
        prefix = require_checkpoint(save_dir, 'last')
        state = load_checkpoint(prefix, net, trainer, ctx=ctx)
        start_epoch = int(state['epoch']) + 1
        best, best_epoch = state.get('best'), state.get('best_epoch')
        if is_main:
            logger.info('resumed from %s: epoch %d done, best %s=%s', prefix, state['epoch'],
                        best_key, best)
    good_checkpoint = latest_checkpoint(save_dir, 'last') if resume else None
    writer = MetricsWriter(save_dir, resume_epoch=start_epoch if resume else None) \
        if is_main else None

    row = None
    for epoch in range(start_epoch, epochs):
        if seed is not None:
            seed_everything(epoch_seed(seed, epoch))
        train_metric.reset()
        loss_sum, num_samples, tic = 0.0, 0, time.time()
        bar = tqdm(train_data, desc='epoch %d/%d' % (epoch + 1, epochs), leave=False,
                   disable=not (is_main and progress), dynamic_ncols=True)
        for i, batch in enumerate(bar):
            data, labels = batch_fn(batch, ctx, even_split)
            targets = labels
            if batch_transform is not None:
                data, targets = batch_transform(data, labels, epoch)
            if forward_backward is not None:
                outputs, losses = forward_backward(net, data, targets, loss_fn)
            else:
                with autograd.record():
                    outputs = [net(x) for x in data]
                    losses = [loss_fn(out, tgt) for out, tgt in zip(outputs, targets)]
                    if loss_scaler is not None:
                        with loss_scaler(losses, trainer) as scaled:
                            autograd.backward(scaled)
                if loss_scaler is None:
                    autograd.backward(losses)
            batch_loss = sum(float(l.sum().asscalar()) for l in losses)
            check_finite(batch_loss, epoch, i, good_checkpoint)
            batch_size = sum(x.shape[0] for x in data)
            trainer.step(batch_size)
            loss_sum += batch_loss
            num_samples += batch_size
            train_metric.update(labels, outputs)
            if is_main and progress:
                postfix = {'loss': '%.4f' % (loss_sum / num_samples)}
                postfix.update((k[len('train_'):], '%.4f' % v)
                               for k, v in _metric_items(train_metric))
                postfix['img/s'] = '%.0f' % (num_samples / max(time.time() - tic, 1e-9))
                bar.set_postfix(postfix, refresh=False)
            for callback in batch_callbacks:
                callback(epoch, i, batch_size, trainer, train_metric)
        bar.close()
        # MXNet 1.x's BatchNorm writes its running statistics in the backward pass through
        # inputs the engine sees as read-only, so a later read (validation, the checkpoint) can
        # overtake the last write: wait for every pending operation first (a race seen with
        # MXNET_EXEC_BULK_EXEC_TRAIN=0, tests/test_dist_faults.py).
        mx.nd.waitall()
        if num_samples == 0:
            raise ValueError('the training data produced no batch in epoch %d (data set smaller '
                             'than one batch with last_batch=discard?)' % epoch)
        train_time = time.time() - tic
        row = {'epoch': epoch, 'train_loss': loss_sum / num_samples,
               'lr': float(trainer.learning_rate), 'time': train_time,
               'samples_per_sec': num_samples / max(train_time, 1e-9)}
        row.update(_metric_items(train_metric))
        if val_fn is not None:
            row.update(val_fn(net, ctx))
        improved = _is_better(row.get(best_key), best, best_mode)
        if improved:
            best, best_epoch = row[best_key], epoch
        if is_main:
            writer.write(**row)
            info = dict(checkpoint_info or {})
            state = dict(epoch=epoch, best=best, best_epoch=best_epoch, best_key=best_key,
                         metrics=row, seed=seed, info=info, model=model)
            if improved:  # the same state twice: write it once, copy the files
                save_checkpoint(best_prefix, net, trainer, **state)
                copy_checkpoint(best_prefix, last_prefix)
            else:
                save_checkpoint(last_prefix, net, trainer, **state)
            logger.info('[epoch %d] %s', epoch, ' '.join(
                '%s=%.6g' % (k, v) for k, v in sorted(row.items())
                if k != 'epoch' and isinstance(v, (int, float))))
        good_checkpoint = last_prefix
        for callback in callbacks:
            callback(epoch, row)
    return {'best': best, 'best_epoch': best_epoch, 'last': row, 'save_dir': save_dir}
