"""ImageNet training recipes of open-aff, float16 / AMP, kvstore (multi-GPU, distributed) setup.

The two recipes reproduce the two versions of open-aff's ``train_imagenet.py`` as they were run
(the ``Namespace(...)`` headers of the released training logs):

=================  =====================================  =====================================
                   ``final`` (released models, 0bcfd8a)   ``paper`` (Table 5, 806562e)
=================  =====================================  =====================================
optimizer          NAG, momentum 0.9, wd 1e-4, no wd on   same
                   BN gamma/beta and biases (``--no-wd``)
lr                 0.075 for a total batch of 512         same
                   (128 per GPU x 4 GPUs, not rescaled)
schedule           5 epochs linear warm-up from 0, then   same
                   cosine to 0 (gluoncv ``LRSequential``)
epochs             240                                    160
mixup              alpha 0.2, off for the last 5 epochs   alpha 0.2, never switched off
label smoothing    0.1 (also inside the mixup targets)    same
precision          float16 weights, ``multi_precision``   same
init               ``MSRAPrelu``                          same
=================  =====================================  =====================================

Learning-rate scaling rule (ours): ``--batch-size`` is the *total* batch over every device and
worker, and the recipe's lr is scaled linearly, ``lr = recipe_lr * total_batch / 512``. With the
default total batch 512 this is exactly the original. The original's semantics (``--batch-size``
per device, lr used as given whatever the number of devices) are kept by ``per_device=True``
(``--per-device-batch`` in ``scripts/train_imagenet.py``). Iterations per epoch are
``1281167 // total_batch`` as in the original (2502 for 512).

Distributed training uses MXNet's parameter server (``--kvstore dist_sync`` /
``dist_device_sync``); see ``docs/imagenet.md`` for the launch. The lr scheduler object lives in
the optimizer given to the :class:`gluon.Trainer`, so it is pickled to the servers when the
update runs there (``update_on_kvstore=True``).
"""
import copy
import json
import os

import mxnet as mx
import numpy as np
from mxnet import gluon

from .schedule import build_lr_schedule, iters_per_epoch

__all__ = ['RECIPES', 'REFERENCE_BATCH', 'get_recipe', 'resolve_batch', 'scaled_lr',
           'iters_per_epoch', 'build_lr_scheduler', 'disable_bias_bn_wd', 'ImageNetTargets',
           'enable_amp', 'create_kvstore', 'finish_kvstore', 'DistTrainer', 'ServerSideTrainer',
           'make_trainer', 'EpochIterator', 'prepare_net', 'topk_errors']

#: total batch the recipes' lr was tuned for: 128 per GPU x 4 GPUs
REFERENCE_BATCH = 512

_COMMON = dict(lr=0.075, ref_batch=REFERENCE_BATCH, optimizer='nag', momentum=0.9, wd=1e-4,
               no_wd=True, lr_mode='cosine', warmup_epochs=5, warmup_lr=0.0, mixup=True,
               mixup_alpha=0.2, label_smoothing=0.1, dtype='float16', init='MSRAPrelu',
               input_size=224, crop_ratio=0.875)

#: the two ImageNet recipes (see the module docstring); ``mixup_off_epochs``: the last epochs
#: trained without mixup
RECIPES = {
    'final': dict(_COMMON, epochs=240, mixup_off_epochs=5),
    'paper': dict(_COMMON, epochs=160, mixup_off_epochs=0),
}


def get_recipe(name, **overrides):
    """A copy of ``RECIPES[name]`` with ``overrides`` (``None`` values are ignored)."""
    if name not in RECIPES:
        raise ValueError('unknown recipe %r; choose one of %s' % (name, sorted(RECIPES)))
    recipe = copy.deepcopy(RECIPES[name])
    unknown = set(overrides) - set(recipe)
    if unknown:
        raise ValueError('unknown recipe keys %s; known: %s' % (sorted(unknown), sorted(recipe)))
    recipe.update((k, v) for k, v in overrides.items() if v is not None)
    return recipe


def resolve_batch(batch_size, num_devices, num_workers=1, per_device=False):
    """``(total_batch, worker_batch, device_batch)`` from the command-line batch size.

    ``per_device=False`` (ours): ``batch_size`` is the total over all workers and devices.
    ``per_device=True`` (original): ``batch_size`` is per device; the total is
    ``batch_size * num_devices * num_workers``.
    """
    if batch_size <= 0 or num_devices <= 0 or num_workers <= 0:
        raise ValueError('batch size, devices and workers must be positive, got %r, %r, %r'
                         % (batch_size, num_devices, num_workers))
    if per_device:
        device_batch = batch_size
        total = batch_size * num_devices * num_workers
    else:
        if batch_size % (num_devices * num_workers):
            raise ValueError('total batch size %d is not divisible by %d devices x %d workers'
                             % (batch_size, num_devices, num_workers))
        total = batch_size
        device_batch = batch_size // (num_devices * num_workers)
    return total, device_batch * num_devices, device_batch


def scaled_lr(lr, total_batch, ref_batch=REFERENCE_BATCH, per_device=False):
    """The lr actually used: ``lr * total_batch / ref_batch``, or ``lr`` itself with the
    original per-device semantics (``per_device=True``)."""
    if per_device:
        return float(lr)
    return float(lr) * total_batch / float(ref_batch)


def build_lr_scheduler(lr, epochs, warmup_epochs, iters, mode='cosine', warmup_lr=0.0,
                       step_epochs=(40, 60), step_factor=0.1):
    """Warm-up + main schedule as a gluoncv ``LRSequential`` (the original's construction,
    :func:`gluon_aff.training.schedule.build_lr_schedule`).

    Linear warm-up from ``warmup_lr`` to ``lr`` over ``warmup_epochs``, then ``mode``
    (``'cosine'``, ``'step'``, ``'poly'``, power 2) from ``lr`` to 0 for the remaining epochs.
    The schedule is driven by the optimizer's update counter.
    """
    return build_lr_schedule(lr, epochs, iters, mode, warmup_epochs, warmup_lr, step_epochs,
                             step_factor)


def disable_bias_bn_wd(net):
    """``wd_mult = 0`` for BN gamma/beta and every bias (the original's ``--no-wd``); returns the
    names changed."""
    params = net.collect_params('.*beta|.*gamma|.*bias')
    for param in params.values():
        param.wd_mult = 0.0
    return sorted(params.keys())


class ImageNetTargets(object):
    """Batch transform of the original: mixup and/or label smoothing, then the cast to ``dtype``.

    A ``batch_transform(data_list, label_list, epoch)`` hook for :func:`gluon_aff.training.fit`.
    With mixup, one ``lam ~ Beta(alpha, alpha)`` (NumPy RNG) is drawn per batch and every device
    slice ``X`` becomes ``lam * X + (1 - lam) * X[::-1]``; targets are
    ``lam * onehot_eta(y) + (1 - lam) * onehot_eta(y[::-1])`` with ``onehot_eta`` the smoothed
    one-hot (``1 - eta + eta / classes`` on the label, ``eta / classes`` elsewhere). In the last
    ``mixup_off_epochs`` epochs ``lam = 1`` (a Beta draw still happens, as in the original).
    Without mixup and without smoothing the hard labels are returned (sparse loss).

    Parameters
    ----------
    classes : int
    epochs : int
        Total epochs of the run (for the mixup switch-off).
    mixup : bool
    mixup_alpha : float
    mixup_off_epochs : int
    label_smoothing : float
        ``eta``; 0 disables it.
    dtype : str
        Data and targets are cast to it (the original computes the loss in this dtype).
    """

    def __init__(self, classes, epochs, mixup=True, mixup_alpha=0.2, mixup_off_epochs=0,
                 label_smoothing=0.1, dtype='float32'):
        if classes < 2:
            raise ValueError('classes must be >= 2, got %r' % (classes,))
        if mixup and mixup_alpha <= 0:
            raise ValueError('mixup_alpha must be positive, got %r' % (mixup_alpha,))
        if not 0 <= label_smoothing < 1:
            raise ValueError('label_smoothing must be in [0, 1), got %r' % (label_smoothing,))
        self.classes, self.epochs = classes, epochs
        self.mixup, self.alpha, self.off = mixup, mixup_alpha, mixup_off_epochs
        self.eta, self.dtype = label_smoothing, dtype

    @property
    def sparse_label(self):
        """Whether the targets are class indices (no mixup, no smoothing)."""
        return not (self.mixup or self.eta > 0)

    def _onehot(self, label):
        eta = self.eta
        return label.one_hot(self.classes, on_value=1 - eta + eta / self.classes,
                             off_value=eta / self.classes)

    def __call__(self, data, labels, epoch):
        if self.mixup:
            lam = float(np.random.beta(self.alpha, self.alpha))
            if epoch >= self.epochs - self.off:
                lam = 1.0
            data = [lam * x + (1 - lam) * x[::-1] for x in data]
            targets = [lam * self._onehot(y) + (1 - lam) * self._onehot(y[::-1])
                       for y in labels]
        elif self.eta > 0:
            targets = [self._onehot(y) for y in labels]
        else:
            targets = labels
        data = [x.astype(self.dtype, copy=False) for x in data]
        targets = [y.astype(self.dtype, copy=False) for y in targets]
        return data, targets


def enable_amp(target_dtype='float16'):
    """Switch on ``mxnet.contrib.amp``; must run *before* the network is built."""
    from mxnet.contrib import amp
    amp.init(target_dtype=target_dtype)
    return amp


def create_kvstore(name):
    """``(kvstore, rank, num_workers)``. ``name`` is ``'device'``, ``'local'``, ``'dist_sync'``,
    ``'dist_device_sync'``, ``'dist_async'`` or ``'horovod'``.

    dist types need the DMLC_* env variables of a launcher (``scripts/launch_dist.py``,
    ``tools/launch.py`` of MXNet). Before joining, the scheduler's address must answer within
    ``GLUON_AFF_DIST_CONNECT_TIMEOUT`` seconds (default 60, else a ``ValueError`` naming it),
    and the process's :class:`~gluon_aff.training.distributed.Watchdog` starts: a worker that
    cannot join or finishes no trainer step for ``GLUON_AFF_DIST_TIMEOUT`` seconds (default
    900) stops with an ``error:`` line instead of waiting forever for a dead peer.
    """
    if name == 'horovod':
        try:
            import horovod.mxnet as hvd
        except ImportError:
            raise ValueError("kvstore 'horovod' needs horovod built with MXNet support, which "
                             'is not installed here: HOROVOD_WITH_MXNET=1 HOROVOD_WITH_GLOO=1 '
                             'pip install --no-build-isolation horovod==0.28.1 (after mxnet; '
                             'see docs/imagenet.md), or use --kvstore dist_sync') from None
        hvd.init()
        return 'horovod', hvd.rank(), hvd.size()
    if name.startswith('dist'):
        if 'DMLC_ROLE' not in os.environ:
            raise ValueError('kvstore %r needs a distributed launch: DMLC_ROLE, '
                             'DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT, DMLC_NUM_SERVER and '
                             'DMLC_NUM_WORKER are not set (see docs/imagenet.md)' % name)
        from . import distributed
        host, port = distributed.scheduler_address()
        distributed.wait_for_scheduler(
            host, port, distributed.env_seconds(distributed.CONNECT_TIMEOUT_ENV, 60))
        distributed.start_watchdog(what='joining the job at %s:%d (%s workers, %s servers)' % (
            host, port, os.environ.get('DMLC_NUM_WORKER'), os.environ.get('DMLC_NUM_SERVER')))
        kv = mx.kv.create(name)
        distributed.feed_watchdog('kvstore %s created, rank %d' % (name, kv.rank))
        return kv, kv.rank, kv.num_workers
    if name not in ('device', 'local', 'nccl'):
        raise ValueError('unknown kvstore %r' % (name,))
    return name, 0, 1


def finish_kvstore(kvstore):
    """Wait for every queued push/pull, then for every worker (dist kvstores).

    MXNet runs ``trainer.step`` asynchronously and drops the operations still queued when a
    process exits, so a worker exiting right after queuing its last step (every rank but 0,
    which writes no checkpoint) left the others waiting forever for that step's weights. The
    final barrier runs under the watchdog: a worker that died at the end is reported too.
    """
    mx.nd.waitall()
    if not isinstance(kvstore, str) and 'dist' in kvstore.type:
        from . import distributed
        distributed.feed_watchdog('training done, waiting for the other workers to finish')
        kvstore._barrier()
        distributed.feed_watchdog('all workers finished')


class DistTrainer(gluon.Trainer):
    """A :class:`gluon.Trainer` for MXNet's parameter-server kvstores (``dist_*``).

    It waits for the initial broadcast of the parameters to reach every worker before the
    first gradient is pushed. ``gluon.Trainer`` sends, for every parameter, a pull of its
    initial value (``kvstore.broadcast``) and then, in the same ``step``, the push-pull of its
    gradient, without waiting in between. MXNet 1.9.1's ps-lite serves a server's incoming
    requests from a priority queue (``ps::ThreadsafePQueue``, dmlc/ps-lite#147) and MXNet
    gives every request the same priority, so a backlog is served out of order: a worker's
    initial pull can be answered after the first push-pull round of that key completed, with
    the *sum of the gradients* instead of the weights. On CPU workers nothing else orders the
    two requests (the kvstore's send buffer is the parameter's own array), and with
    ``update_on_kvstore=False`` that worker then trains from gradient-sum weights: one
    parameter (the last to be initialised, the only one whose pull and push-pull are queued
    together) differed between workers in about 1 run of 6 under CPU load. Waiting here costs
    one round trip, once.

    Every ``step`` also feeds the process's
    :class:`~gluon_aff.training.distributed.Watchdog` (started by :func:`create_kvstore`).
    """

    def __init__(self, *args, **kwargs):
        super(DistTrainer, self).__init__(*args, **kwargs)
        self._steps_done = 0

    def step(self, batch_size, ignore_stale_grad=False):
        super(DistTrainer, self).step(batch_size, ignore_stale_grad)
        self._steps_done += 1
        from .distributed import feed_watchdog
        feed_watchdog('trainer step %d' % self._steps_done)

    def _init_params(self):
        pending = [param for param in self._params_to_init if not param._deferred_init]
        super(DistTrainer, self)._init_params()
        for param in pending:
            for array in param.list_data():
                array.wait_to_read()  # the initial pull has completed


class ServerSideTrainer(DistTrainer):
    """A :class:`gluon.Trainer` for ``update_on_kvstore=True`` on a distributed kvstore.

    The optimizer (with its lr scheduler) and its states live on the servers there, and MXNet
    cannot save them from a worker. ``save_states`` writes the number of updates done instead
    and ``load_states`` restores it into the optimizer before it is sent to the servers, so a
    resumed run continues the lr schedule; momentum restarts from zero (documented).
    :attr:`learning_rate` is the servers' lr, the schedule at that update count.
    """

    @property
    def num_update(self):
        """Updates the servers have done (or have queued): the restored count plus this
        run's steps."""
        return self._optimizer.begin_num_update + self._steps_done

    @property
    def learning_rate(self):
        """The lr of the servers' latest update.

        The worker's own optimizer never updates here, so its ``num_update`` (and
        ``Trainer.learning_rate``) stays at the start of the schedule. The servers' copy
        computes update ``n`` with ``lr_scheduler(n)`` (``n`` counted from
        ``begin_num_update``), so this evaluates a copy of the scheduler at
        :attr:`num_update` (a copy: MXNet's own schedulers keep state).
        """
        optimizer = self._optimizer
        if optimizer.lr_scheduler is None:
            return optimizer.lr
        return copy.deepcopy(optimizer.lr_scheduler)(self.num_update)

    def save_states(self, fname):
        with open(fname, 'w') as f:
            json.dump({'num_update': self.num_update,
                       'server_side': True}, f)

    def load_states(self, fname):
        with open(fname) as f:
            state = json.load(f)
        if self._kv_initialized:
            raise RuntimeError('load_states must be called before the first step')
        self._optimizer.begin_num_update = self._optimizer.num_update = int(state['num_update'])
        self._steps_done = 0


def make_trainer(net, lr_scheduler, optimizer='nag', momentum=0.9, wd=1e-4, dtype='float32',
                 kvstore='device', num_workers=1, update_on_kvstore=None):
    """The recipe's trainer. ``multi_precision`` for float16 weights (the original).

    Gradients are averaged over the whole distributed batch: with a dist kvstore the servers sum
    the workers' gradients, so ``rescale_grad`` starts at ``1 / num_workers`` and
    ``trainer.step(worker_batch)`` then divides by the worker batch. ``update_on_kvstore=None``
    keeps MXNet's choice (True for dist kvstores, see :class:`ServerSideTrainer`); ``False``
    updates on the workers (a :class:`DistTrainer`).
    """
    params = {'wd': wd, 'momentum': momentum, 'lr_scheduler': lr_scheduler,
              'rescale_grad': 1.0 / num_workers}
    if dtype != 'float32':
        params['multi_precision'] = True
    if kvstore == 'horovod':
        import horovod.mxnet as hvd
        params['rescale_grad'] = 1.0
        hvd.broadcast_parameters(net.collect_params(), root_rank=0)
        return hvd.DistributedTrainer(net.collect_params(), optimizer, params)
    distributed = not isinstance(kvstore, str) and 'dist' in kvstore.type
    if not distributed:
        cls = gluon.Trainer
    else:
        cls = DistTrainer if update_on_kvstore is False else ServerSideTrainer
    return cls(net.collect_params(), optimizer, params, kvstore=kvstore,
               update_on_kvstore=update_on_kvstore)


class EpochIterator(object):
    """Re-iterable RecordIO input: every ``iter()`` (one epoch) builds a fresh iterator.

    ``make_iter(seed)`` returns an ``mx.io.DataIter``; ``seed`` is drawn from NumPy's global RNG,
    which :func:`gluon_aff.training.fit` re-seeds at the start of every epoch. The shuffle and
    augmentation of an epoch therefore depend only on ``(run seed, epoch)``, and a resumed run
    sees the same data as an uninterrupted one. (The original reset one iterator, whose
    ``round_batch`` padding made every other epoch one batch shorter.)
    """

    def __init__(self, make_iter, num_batches=None):
        self.make_iter, self.num_batches = make_iter, num_batches

    def __iter__(self):
        return iter(self.make_iter(int(np.random.randint(0, 2 ** 31 - 1))))

    def __len__(self):
        if self.num_batches is None:
            raise TypeError('length unknown')
        return self.num_batches


def prepare_net(net, ctx, dtype='float32', init='MSRAPrelu', no_wd=True, hybridize=True,
                params=None):
    """Cast, initialise (or load ``params``), set no-wd and hybridize as the original.

    ``params``: a ``.params`` file loaded instead of the init: ours, or an original open-aff
    checkpoint in any layout :func:`gluon_aff.model_zoo.convert.load_original` reads
    (structural or legacy prefixed keys, float16 or float32).
    """
    if params:
        from ..model_zoo.convert import load_original
        load_original(net, params, ctx=ctx)  # float32 first: legacy files need a forward pass
        net.cast(dtype)
    else:
        net.cast(dtype)
        initializer = getattr(mx.init, init, None)
        if initializer is None:
            raise ValueError('unknown initializer %r' % (init,))
        net.initialize(initializer(), ctx=ctx)
    if no_wd:
        disable_bias_bn_wd(net)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    return net


def topk_errors(net, data, ctx, dtype='float32', batch_fn=None, ks=(1, 5)):
    """Top-k errors of ``net`` on ``data`` (RecordIO iterator or loader): ``{'top1_err': ..,
    'top5_err': .., 'num_samples': n}``.

    A sample is right at ``k`` if its label is among the ``k`` highest scores (``k`` at or above
    the number of classes: always right). Padding of the last RecordIO batch is not counted
    (the original counted it). Give a *fresh* RecordIO iterator (or an :class:`EpochIterator`):
    ``reset()`` makes ``mx.io.ImageRecordIter`` skip the samples it used as padding, and a
    ``reset()`` right after creation races with its prefetcher (batches lost at random).
    """
    from ..data.imagenet import split_batch
    batch_fn = batch_fn or split_batch
    correct = dict((k, 0) for k in ks)
    count = 0
    for batch in data:
        inputs, labels = batch_fn(batch, ctx, False)
        for x, y in zip(inputs, labels):
            scores = net(x.astype(dtype, copy=False)).astype('float32').asnumpy()
            y = y.asnumpy().astype(np.int64).reshape(-1)
            # rank of the true class = number of classes scoring strictly higher
            rank = (scores > scores[np.arange(len(y)), y][:, None]).sum(axis=1)
            for k in ks:
                correct[k] += int((rank < k).sum())
            count += len(y)
    if count == 0:
        raise ValueError('the validation data produced no sample')
    out = dict(('top%d_err' % k, 1.0 - correct[k] / float(count)) for k in ks)
    out['num_samples'] = count
    return out
