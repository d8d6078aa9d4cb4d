"""ImageNet training parts of open-aff: float16 / AMP, kvstore (multi-GPU, distributed) set-up,
knowledge distillation, RecordIO epochs, top-k errors.

The recipes are the recipe layer's (:mod:`gluon_aff.training.recipe`): ``final`` (the released
models' runs: 240 epochs, NAG lr 0.075 for 4 GPUs x 128, 5 warm-up epochs then cosine, mixup 0.2
off for the last 5 epochs, label smoothing 0.1, no wd on BN/bias, float16, MSRAPrelu), ``paper``
(the paper-version runs: 160 epochs, mixup never switched off) and one per logged run
(``openaff-iaff-resnext50``, ``paper-gg-resnet50``...), each as its log's ``Namespace`` says.

Learning-rate scaling rule (ours): ``--batch-size`` is the *total* batch over every device and
worker, and the lr is scaled linearly, ``lr * total_batch / lr_ref_batch``, where
``lr_ref_batch`` is the total batch the logged run used (512 for 4 GPUs x 128). With the preset's
batch this is exactly the original. The original's semantics (``--batch-size`` per device, lr
used as given whatever the number of devices) are kept by ``per_device_batch``
(``--per-device-batch``). Iterations per epoch are ``1281167 // total_batch`` as in the original
(2502 for 512).

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

from .recipe import optimizer_params
from .schedule import iters_per_epoch

__all__ = ['iters_per_epoch', 'enable_amp', 'amp_loss_scaler', 'create_kvstore', 'finish_kvstore', 'DistTrainer',
           'ServerSideTrainer', 'make_trainer', 'EpochIterator', 'prepare_net', 'topk_errors',
           'load_teacher', 'DistillationTargets', 'DistillationLoss']


def enable_amp(target_dtype='float16'):
    """Switch on ``mxnet.contrib.amp``; must run *before* the network is built."""
    from mxnet.contrib import amp
    amp.init(target_dtype=target_dtype)
    return amp


def amp_loss_scaler(amp_module, trainer, target_dtype):
    """The ``loss_scaler`` of :func:`~gluon_aff.training.engine.fit` for AMP in ``target_dtype``:
    float16 needs dynamic loss scaling (``amp.init_trainer`` + ``amp.scale_loss``); bfloat16 has
    float32's exponent range and trains unscaled (``None``)."""
    if target_dtype != 'float16':
        return None
    amp_module.init_trainer(trainer)
    return amp_module.scale_loss


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
    params = dict(optimizer_params(optimizer, momentum, wd, lr_scheduler),
                  rescale_grad=1.0 / num_workers)
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


def prepare_net(net, ctx, dtype='float32', init='msraprelu', no_wd=True, hybridize=True,
                init_from=None, model=None):
    """Initialise (then warm-start from ``init_from``), cast, set no-wd and hybridize as the
    original.

    ``init_from``: weights only (:func:`gluon_aff.training.recipe.warm_start`; a gluon-aff run
    folder or checkpoint, or an original open-aff ``.params`` in any layout, float16 included),
    loaded in float32 before the cast; ``model`` is ``net``'s record.
    """
    from .recipe import apply_no_wd, make_initializer, warm_start
    initializer = make_initializer(init)
    if init_from:
        net.initialize(initializer, ctx=ctx)
        warm_start(net, init_from, model, ctx)
        net.cast(dtype)
    else:
        net.cast(dtype)
        net.initialize(initializer, ctx=ctx)
    if no_wd:
        apply_no_wd(net)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    return net


def load_teacher(teacher, classes, ctx, dtype='float32', hybridize=True):
    """The distillation teacher: a gluon-aff run folder / checkpoint
    (:func:`~gluon_aff.training.load_run`) or a model-zoo name with its pretrained weights
    (gluon-aff's, else gluoncv's ``get_model(name, pretrained=True)`` as the original)."""
    from ..model_zoo import get_model_list
    from .run import load_run
    path = os.path.expanduser(teacher)
    if os.path.exists(path) or os.path.exists(path + '.json'):
        net, _ = load_run(path, ctx=ctx)
    elif teacher in get_model_list():
        from ..model_zoo import get_model
        net = get_model(teacher, pretrained=True, classes=classes, ctx=ctx)
    else:
        from gluoncv.model_zoo import get_model as gluoncv_model
        net = gluoncv_model(teacher, pretrained=True, classes=classes, ctx=ctx)
    net.cast(dtype)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    return net


class DistillationTargets(object):
    """Knowledge distillation as the original ``train_imagenet.py``: after the mixup/smoothing
    transform ``targets`` (a :class:`~gluon_aff.training.recipe.SoftTargets`), the teacher's
    ``softmax(teacher(X) / temperature)`` on the (mixed) batch, computed outside autograd;
    targets become ``(target, teacher probabilities)`` pairs for :class:`DistillationLoss`."""

    def __init__(self, teacher, temperature, targets):
        self.teacher, self.temperature, self.targets = teacher, float(temperature), targets

    @property
    def sparse_label(self):
        return self.targets.sparse_label

    def __call__(self, data, labels, epoch):
        data, targets = self.targets(data, labels, epoch)
        probs = [mx.nd.softmax(self.teacher(x) / self.temperature) for x in data]
        return data, list(zip(targets, probs))


class DistillationLoss(object):
    """gluoncv's ``DistillationSoftmaxCrossEntropyLoss(temperature, hard_weight, sparse_label)``
    on float32 copies of output, target and teacher probabilities, as the original:
    ``(1 - w) * T^2 * CE(softmax(out / T), p) + w * CE(softmax(out), target)``."""

    def __init__(self, temperature, hard_weight, sparse_label):
        from gluoncv.loss import DistillationSoftmaxCrossEntropyLoss
        self.loss = DistillationSoftmaxCrossEntropyLoss(
            temperature=temperature, hard_weight=hard_weight, sparse_label=sparse_label)

    def __call__(self, output, target):
        label, probs = target
        return self.loss(output.astype('float32', copy=False), label.astype('float32', copy=False),
                         probs.astype('float32', copy=False))


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
