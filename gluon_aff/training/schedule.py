"""Learning-rate schedules: one builder for every task, and the original's runs as data.

Every trainer of this project hands a gluoncv scheduler (``LRScheduler`` / ``LRSequential``) to
its optimizer. The optimizer evaluates it at its own update counter: the ``k``-th
``trainer.step`` (``k = 1, 2, ...``) uses ``scheduler(k)``, so the update of 0-based batch ``b`` in
0-based epoch ``e`` uses ``scheduler(e * iters_per_epoch + b + 1)`` when every epoch has
``iters_per_epoch`` updates. :func:`build_lr_schedule` builds each schedule the original open-aff
code used, exactly as it built it:

==================  ==========================================================================
``mode``            schedule
==================  ==========================================================================
``'cosine'``,       gluoncv ``LRSequential([LRScheduler('linear', warmup_lr -> lr, warm-up
``'poly'``,         epochs), LRScheduler(mode, lr -> 0, remaining epochs, step_epoch=decay
``'linear'``,       epochs - warm-up, power)])``: ``train_imagenet.py`` (both versions, every
``'step'``          ``--lr-mode``) and the final ``train_cifar.py`` with ``--cosine``. gluoncv's
                    ``'step'`` counts updates: a decay at epoch ``d`` starts one update before the
                    first batch of ``d`` (at update ``d * iters_per_epoch``), as in the original.
``'epoch-step'``    constant ``lr``, times ``decay_factor`` from the first update of every epoch in
                    ``decay_epochs`` (gluoncv ``'step'`` with ``offset=1``): the original CIFAR
                    scripts without ``--cosine``, which called ``trainer.set_learning_rate`` at
                    the start of those epochs; no warm-up on that path.
``'constant'``      ``lr`` throughout.
==================  ==========================================================================

The segmentation trainer (no original code) uses ``'poly'`` with power 0.9 and no warm-up.

``decay_epochs`` are absolute epochs. The final ``train_cifar.py`` subtracted ``--warmup-epochs``
from ``--lr-decay-epoch`` on its ``set_learning_rate`` path although that path has no warm-up
(decays at 280/430 for ``300,450`` and warm-up 20); :func:`schedule_from_namespace` applies that
shift, the builder does not.

:func:`schedule_from_namespace` maps the ``Namespace`` of an original log
(:mod:`gluon_aff.reproduce.openaff_logs`) to a :class:`ScheduleArgs`: the builder's arguments plus
how the run counted its updates (batches per epoch of its data iterator, the first epoch and the
update counter of a resumed run). :func:`lr_trace` yields the lr of every update of such a run.
"""
import math
import re
from dataclasses import asdict, dataclass, field

from gluoncv.utils import LRScheduler, LRSequential

from ..data.imagenet import NUM_TRAINING_SAMPLES

__all__ = ['MODES', 'build_lr_schedule', 'iters_per_epoch',
           'recordio_epoch_lengths', 'ScheduleArgs', 'schedule_from_namespace', 'lr_trace',
           'CIFAR_TRAIN_SAMPLES', 'IMAGENET_TRAIN_SAMPLES', 'devices_of']

MODES = ('cosine', 'poly', 'linear', 'step', 'epoch-step', 'constant')

#: training-set sizes the original divided by the batch size
CIFAR_TRAIN_SAMPLES = 50000
IMAGENET_TRAIN_SAMPLES = NUM_TRAINING_SAMPLES


def build_lr_schedule(lr, epochs, iters_per_epoch, mode='cosine', warmup_epochs=0,
                      warmup_lr=0.0, decay_epochs=(), decay_factor=0.1, power=2.0):
    """The gluoncv scheduler of one run (see the module docstring for each ``mode``).

    Parameters
    ----------
    lr : float
        Base learning rate (after the warm-up).
    epochs : int
        Total epochs, warm-up included.
    iters_per_epoch : int
        Updates per epoch the schedule is laid out with (the original: training samples //
        total batch, whatever its data iterator really delivered).
    mode : str, default 'cosine'
        One of :data:`MODES`.
    warmup_epochs : int, default 0
        Linear warm-up ``warmup_lr -> lr`` over these epochs (not with ``'epoch-step'``).
    warmup_lr : float, default 0.0
        Start of the warm-up.
    decay_epochs : sequence of int
        Absolute epochs of the ``'step'`` / ``'epoch-step'`` decays (ignored by the other modes).
    decay_factor : float, default 0.1
        Factor of each decay.
    power : float, default 2.0
        Exponent of ``'poly'`` (the original passed 2 for every mode; segmentation uses 0.9).

    Returns
    -------
    gluoncv.utils.LRScheduler or LRSequential
        Call it with the optimizer's update count (``1`` for the first update).
    """
    if mode not in MODES:
        raise ValueError('lr mode must be one of %s, got %r' % (', '.join(MODES), mode))
    if iters_per_epoch <= 0 or epochs <= 0:
        raise ValueError('epochs (%r) and iters_per_epoch (%r) must be positive'
                         % (epochs, iters_per_epoch))
    if not 0 <= warmup_epochs < epochs:
        raise ValueError('warmup_epochs %r must be in [0, epochs=%r)' % (warmup_epochs, epochs))
    decay_epochs = [d for d in decay_epochs]
    if mode == 'constant':
        mode, decay_epochs = 'epoch-step', []
    if mode == 'epoch-step':
        if warmup_epochs:
            raise ValueError("the 'epoch-step' schedule has no warm-up (the original's "
                             "set_learning_rate path); use mode 'step' with a warm-up")
        # offset=1: update k belongs to epoch (k - 1) // iters_per_epoch
        return LRScheduler('step', base_lr=lr, nepochs=epochs, iters_per_epoch=iters_per_epoch,
                           step_epoch=decay_epochs, step_factor=decay_factor, offset=1)
    return LRSequential([
        LRScheduler('linear', base_lr=warmup_lr, target_lr=lr, nepochs=warmup_epochs,
                    iters_per_epoch=iters_per_epoch),
        LRScheduler(mode, base_lr=lr, target_lr=0, nepochs=epochs - warmup_epochs,
                    iters_per_epoch=iters_per_epoch,
                    step_epoch=[d - warmup_epochs for d in decay_epochs],
                    step_factor=decay_factor, power=power)])


def iters_per_epoch(num_samples, total_batch, last_batch='discard'):
    """Batches per epoch of a gluon ``DataLoader``: ``num_samples // total_batch`` when the last
    incomplete batch is discarded (the original's training loaders and the ``num_batches`` its
    schedules were built with), ``ceil`` when it is kept."""
    if num_samples <= 0 or total_batch <= 0:
        raise ValueError('num_samples (%r) and total_batch (%r) must be positive'
                         % (num_samples, total_batch))
    if last_batch == 'discard':
        return max(1, num_samples // total_batch)
    if last_batch in ('keep', 'rollover'):
        return int(math.ceil(num_samples / float(total_batch)))
    raise ValueError("last_batch must be 'discard', 'keep' or 'rollover', got %r" % (last_batch,))


def recordio_epoch_lengths(num_samples, total_batch, epochs):
    """Batches per epoch of one ``mx.io.ImageRecordIter`` reset at every epoch.

    With its default ``round_batch=True`` the iterator fills the last batch of an epoch with the
    first samples of the next pass and starts the next epoch after them: an epoch that starts
    ``o`` samples into the data has ``ceil((N - o) / B)`` batches and leaves the next one
    ``B * batches - (N - o)`` samples in. For ImageNet and 512 this gives 2503, 2502, 2502,
    2503, ... (2502.28 on average), not the scheduler's constant 2502.
    """
    lengths, offset = [], 0
    for _ in range(epochs):
        remaining = num_samples - offset
        batches = -(-remaining // total_batch)
        lengths.append(batches)
        offset = batches * total_batch - remaining
    return lengths


def devices_of(namespace):
    """Number of devices of an original run (``gpus='0,1'`` -> 2, ``num_gpus=4`` -> 4; at
    least 1, as the original's ``max(1, num_gpus)``)."""
    if 'num_gpus' in namespace:
        return max(1, int(namespace['num_gpus']))
    gpus = [g for g in str(namespace.get('gpus', '')).split(',') if g.strip()]
    return max(1, len(gpus))


@dataclass
class ScheduleArgs:
    """The schedule of one run, as :func:`build_lr_schedule`'s arguments plus its update count.

    Attributes
    ----------
    lr, epochs, iters_per_epoch, mode, warmup_epochs, warmup_lr, decay_epochs, decay_factor,
    power
        :func:`build_lr_schedule`'s arguments.
    epoch_lengths : list of int or None
        Updates actually made in each epoch ``0 .. epochs-1`` (None: ``iters_per_epoch`` each).
    start_epoch : int
        First epoch the run trained (the original's ``--resume-epoch``).
    start_update : int
        Optimizer update count before the run's first update: 0 for a fresh run, the count
        restored from ``--resume-states`` for a resumed one.
    total_batch : int
        Samples per update (per-device batch x devices).
    notes : list of str
        How the values were derived (quirks of the original included).
    """
    lr: float
    epochs: int
    iters_per_epoch: int
    mode: str = 'cosine'
    warmup_epochs: int = 0
    warmup_lr: float = 0.0
    decay_epochs: tuple = ()
    decay_factor: float = 0.1
    power: float = 2.0
    epoch_lengths: list = None
    start_epoch: int = 0
    start_update: int = 0
    total_batch: int = 0
    notes: list = field(default_factory=list)

    def build(self):
        """The gluoncv scheduler (:func:`build_lr_schedule`)."""
        return build_lr_schedule(self.lr, self.epochs, self.iters_per_epoch, self.mode,
                                 self.warmup_epochs, self.warmup_lr, self.decay_epochs,
                                 self.decay_factor, self.power)

    def epoch_length(self, epoch):
        """Updates made in ``epoch``."""
        if self.epoch_lengths is None:
            return self.iters_per_epoch
        return self.epoch_lengths[epoch]

    def epoch_starts(self):
        """``{epoch: update count before its first update}`` for the run's epochs."""
        starts, count = {}, self.start_update
        for epoch in range(self.start_epoch, self.epochs):
            starts[epoch] = count
            count += self.epoch_length(epoch)
        return starts

    def update_count(self, epoch, batch, starts=None):
        """The optimizer's update count at 0-based ``batch`` of ``epoch`` (1 for a fresh run's
        first update); ``starts``: :meth:`epoch_starts`, to save recomputing it."""
        if not self.start_epoch <= epoch < self.epochs:
            raise ValueError('epoch %d is outside the run (epochs %d..%d)'
                             % (epoch, self.start_epoch, self.epochs - 1))
        if not 0 <= batch < self.epoch_length(epoch):
            raise ValueError('batch %d is outside epoch %d (%d updates)'
                             % (batch, epoch, self.epoch_length(epoch)))
        starts = starts if starts is not None else self.epoch_starts()
        return starts[epoch] + batch + 1

    def as_dict(self):
        """The fields as a dict."""
        return asdict(self)


def lr_trace(args):
    """Yield ``(epoch, batch, lr)`` for every update of the run described by ``args``
    (:class:`ScheduleArgs`), epochs ``start_epoch .. epochs-1``, 0-based."""
    scheduler = args.build()
    update = args.start_update
    for epoch in range(args.start_epoch, args.epochs):
        for batch in range(args.epoch_length(epoch)):
            update += 1
            yield epoch, batch, float(scheduler(update))


def _decay_list(namespace):
    period = int(namespace.get('lr_decay_period') or 0)
    if period > 0:
        return list(range(period, int(namespace['num_epochs']), period))
    text = str(namespace.get('lr_decay_epoch') or '')
    return [int(e) for e in text.split(',') if e.strip()]


_STATES_EPOCH = re.compile(r'-(\d+)(?:-best)?\.states$')


def _resumed_update_count(namespace, args, notes):
    """Optimizer update count at the start of a run resumed with ``--resume-epoch``.

    ``trainer.load_states`` restores the pickled optimizer, update count and scheduler included;
    the original named its states ``...-<epoch>.states`` / ``...-<epoch>-best.states`` after the
    epoch that ended, so the count is the updates of epochs ``0 .. <epoch>`` of the earlier run
    (whatever ``--resume-epoch`` says). Without ``--resume-states`` the optimizer starts at 0.
    """
    states = str(namespace.get('resume_states') or '')
    if not states:
        notes.append('resumed at epoch %d without --resume-states: a fresh optimizer, update '
                     'count 0' % args.start_epoch)
        return 0
    match = _STATES_EPOCH.search(states)
    done = int(match.group(1)) + 1 if match else args.start_epoch
    count = sum(args.epoch_length(e) for e in range(done))
    notes.append('resumed at epoch %d with the states saved after epoch %d: the restored '
                 'optimizer continues from update %d' % (args.start_epoch, done - 1, count))
    return count


def schedule_from_namespace(namespace, num_samples=None, resume_update=None):
    """The schedule an original open-aff run applied, from its log's ``Namespace`` (a dict).

    Parameters
    ----------
    namespace : dict
        :attr:`gluon_aff.reproduce.openaff_logs.Segment.namespace`.
    num_samples : int or None
        Training-set size; None: CIFAR 50,000, ImageNet 1,281,167 (the original's constants).
    resume_update : int or None
        For an ImageNet run resumed with ``--resume-epoch``: the optimizer's update count stored
        in its ``--resume-states`` (the pickled optimizer carries its count and scheduler).
        None: derived from the states' file name (see :func:`_resumed_update_count`).

    Returns
    -------
    ScheduleArgs

    How each script counted (both code versions):

    * CIFAR: total batch = ``batch_size`` x devices (``--gpus``); a ``DataLoader`` with
      ``last_batch='discard'``, ``50000 // total`` updates every epoch. Final code with
      ``--cosine``: warm-up + cosine from ``--warmup-epochs`` (the ``LRSequential``); without it,
      ``set_learning_rate(lr * lr_decay)`` at the start of each epoch of ``--lr-decay-epoch``
      minus ``--warmup-epochs``. Paper code (and the final code's forerunners without
      ``--cosine``/``--warmup-epochs``): the same by-hand decays at ``--lr-decay-epoch``, not
      shifted.
    * ImageNet: total batch = ``batch_size`` x ``num_gpus``; the schedule is laid out with
      ``1281167 // total`` updates per epoch, but the ``ImageRecordIter`` (``--use-rec``, every
      logged run) delivered :func:`recordio_epoch_lengths` batches; a ``DataLoader`` over image
      folders delivers ``1281167 // total``. Warm-up always starts at 0 (the original passed
      ``base_lr=0`` whatever ``--warmup-lr`` said).
    """
    from ..reproduce.openaff_logs import code_version, log_task
    task, version = log_task(namespace), code_version(namespace)
    devices = devices_of(namespace)
    total = int(namespace['batch_size']) * devices
    epochs = int(namespace['num_epochs'])
    lr = float(namespace['lr'])
    factor = float(namespace.get('lr_decay', 0.1))
    decays = _decay_list(namespace)
    notes = ['total batch %d = %d per device x %d device(s)'
             % (total, int(namespace['batch_size']), devices)]
    if task == 'cifar':
        samples = num_samples or CIFAR_TRAIN_SAMPLES
        ipe = iters_per_epoch(samples, total)
        notes.append('%d updates per epoch (%d // %d, last batch discarded)'
                     % (ipe, samples, total))
        warmup = int(namespace.get('warmup_epochs', 0))
        if namespace.get('cosine'):
            args = ScheduleArgs(lr=lr, epochs=epochs, iters_per_epoch=ipe, mode='cosine',
                                warmup_epochs=warmup, decay_factor=factor, total_batch=total)
            notes.append('final code, --cosine: linear warm-up from 0 over %d epochs, cosine '
                         'to 0' % warmup)
        else:
            shifted = 'warmup_epochs' in namespace
            if shifted:
                decays = [d - warmup for d in decays]
                notes.append('%s code without --cosine: lr %g set by hand, x%g at the start of '
                             'epochs %s (--lr-decay-epoch minus --warmup-epochs %d), no warm-up'
                             % (version, lr, factor, decays, warmup))
            else:
                notes.append('%s code: lr %g set by hand, x%g at the start of epochs %s, no '
                             'warm-up' % (version, lr, factor, decays))
            args = ScheduleArgs(lr=lr, epochs=epochs, iters_per_epoch=ipe, mode='epoch-step',
                                decay_epochs=tuple(decays), decay_factor=factor,
                                total_batch=total)
        args.notes = notes
        return args
    samples = num_samples or IMAGENET_TRAIN_SAMPLES
    ipe = iters_per_epoch(samples, total)
    warmup = int(namespace.get('warmup_epochs', 0))
    mode = str(namespace.get('lr_mode', 'step'))
    args = ScheduleArgs(lr=lr, epochs=epochs, iters_per_epoch=ipe, mode=mode,
                        warmup_epochs=warmup, decay_epochs=tuple(decays), decay_factor=factor,
                        total_batch=total)
    notes.append('schedule laid out with %d updates per epoch (%d // %d); linear warm-up from 0 '
                 'over %d epochs, then %s' % (ipe, samples, total, warmup, mode))
    if namespace.get('use_rec', True):
        args.epoch_lengths = recordio_epoch_lengths(samples, total, epochs)
        notes.append('ImageRecordIter reset every epoch (round_batch): %s batches per epoch'
                     % '/'.join(str(n) for n in sorted(set(args.epoch_lengths))))
    args.start_epoch = int(namespace.get('resume_epoch') or 0)
    if args.start_epoch:
        if resume_update is None:
            resume_update = _resumed_update_count(namespace, args, notes)
        else:
            notes.append('resumed at epoch %d with the optimizer update count %d (given)'
                         % (args.start_epoch, resume_update))
        if args.epoch_lengths is not None:
            # the resumed process opened a fresh iterator at its first epoch
            fresh = recordio_epoch_lengths(samples, total, epochs - args.start_epoch)
            args.epoch_lengths = args.epoch_lengths[:args.start_epoch] + fresh
        args.start_update = resume_update
    args.notes = notes
    return args
