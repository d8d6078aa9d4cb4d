"""The recipe layer: one :class:`Recipe` for every task, its named presets, its flags.

A :class:`Recipe` holds every value that decides how a network is trained (epochs, batch, lr and
its schedule, weight decay, mixup, label smoothing, AutoAugment, precision, warm start, ...).
The CIFAR, ImageNet and segmentation trainers all read one; each field says which tasks use it
(its ``metadata['tasks']``). A recipe comes

* from a **preset** (:func:`get_recipe`), named after the original's runs (:data:`PRESETS`): the
  generic ones (``final``, ``final-cosine``, ``paper`` for CIFAR; ``final``, ``paper`` for
  ImageNet; ``paper`` for segmentation) and one per released model and per logged paper run
  (``openaff-aff-resnet32``, ``paper-iaff-resnet50``, ...). A preset is a *chain* when the
  original trained it in stages, each warm-started from the previous stage's best parameters:
  ``NAME:K`` is stage ``K`` (1-based);
* from **flags** (:func:`add_recipe_flags` adds one flag per field, generated from the fields and
  their help text, with the same names in every training command; :func:`recipe_from_args`
  reads them back; :func:`recipe_argv` writes a recipe as flags);
* from a **log** of the original (:func:`recipe_from_namespace`: the effective values of a
  logged run's ``Namespace``).

The parts every trainer builds from a recipe live here once: the lr schedule
(:meth:`Recipe.lr_schedule`, through :func:`gluon_aff.training.schedule.build_lr_schedule`),
mixup and label smoothing (:class:`SoftTargets`), the no-weight-decay rule (:func:`apply_no_wd`),
the initialisers (:func:`make_initializer`), the warm start (:func:`warm_start`) and the
original's batch log line (:class:`BatchLogger`).

>>> r = get_recipe('openaff-aff-resnet32:2', task='cifar')
>>> r.lr_mode, r.warmup_epochs, r.no_wd, r.batch_size
('cosine', 20, True, 512)
"""
import argparse
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from .schedule import MODES, build_lr_schedule

__all__ = ['TASKS', 'Recipe', 'Stage', 'Preset', 'PRESETS', 'DEFAULT_PRESET', 'get_recipe',
           'get_preset', 'find_preset', 'preset_names', 'require_warm_start', 'recipe_fields',
           'add_recipe_flags', 'recipe_from_args', 'recipe_argv', 'recipe_from_namespace',
           'recipe_from_saved', 'SoftTargets', 'apply_no_wd', 'INITIALIZERS', 'make_initializer',
           'warm_start', 'BatchLogger']

TASKS = ('cifar', 'imagenet', 'segmentation')
_CLS = ('cifar', 'imagenet')          # the classification trainers


def _field(default, help, tasks=TASKS, flags=None, choices=None, compare=True, metavar=None):
    """A recipe field: ``help`` is its flag's help text, ``tasks`` the trainers that use it,
    ``flags`` the (on, off) switches of a boolean."""
    return field(default=default, compare=compare,
                 metadata=dict(help=help, tasks=tasks, flags=flags, choices=choices,
                               metavar=metavar))


#: ``name -> factory`` of the initialisers: ``xavier`` = ``mx.init.Xavier()`` (the original CIFAR
#: code), ``msraprelu`` = ``mx.init.MSRAPrelu()`` (the original ImageNet code), ``kaiming`` = He
#: normal for ReLU (the paper's Table 2 for ResNet-20-b and the segmentation runs)
INITIALIZERS = {
    'xavier': lambda mx: mx.init.Xavier(),
    'msraprelu': lambda mx: mx.init.MSRAPrelu(),
    'kaiming': lambda mx: mx.init.MSRAPrelu(factor_type='in', slope=0.0),
}


def optimizer_params(optimizer, momentum, wd, lr_scheduler):
    """``gluon.Trainer`` optimizer parameters: ``wd``, the lr scheduler and, for the optimizers
    that take one (nag, sgd), the momentum (AdaGrad, Adam, ... refuse a ``momentum`` argument)."""
    params = {'wd': wd, 'lr_scheduler': lr_scheduler}
    if optimizer in ('nag', 'sgd'):
        params['momentum'] = momentum
    return params


@dataclass
class Recipe(object):
    """Every value of a training run (see the module docstring); field ``metadata`` holds the
    help text of its flag and the tasks that use it. Build one with :func:`get_recipe`."""
    name: str = _field('', 'preset this recipe came from', tasks=(), compare=False)
    task: str = _field('cifar', 'cifar, imagenet or segmentation', tasks=())
    epochs: int = _field(640, 'epochs of the run')
    batch_size: int = _field(512, 'TOTAL batch over all devices (per device with '
                                  '--per-device-batch)')
    per_device_batch: bool = _field(False, '--batch-size per device, as the original scripts '
                                           '(total = batch x devices)',
                                    flags=('--per-device-batch', '--total-batch'))
    devices: int = _field(4, 'devices of the original run (the plan\'s --gpus; the per-device '
                             'batch of --per-device-batch without --batch-size)', tasks=(),
                          compare=False)
    lr: float = _field(0.2, 'learning rate (for a total batch of --lr-ref-batch when that is set)')
    lr_ref_batch: int = _field(0, 'total batch the lr is meant for: the lr is scaled linearly to '
                                  'the real total batch (0, or --per-device-batch: used as given)',
                               metavar='N')
    optimizer: str = _field('nag', 'optimizer (MXNet name: nag, sgd, adagrad, ...)')
    momentum: float = _field(0.9, 'momentum (nag, sgd)')
    wd: float = _field(1e-4, 'weight decay')
    no_wd: bool = _field(False, 'no weight decay on BN gamma/beta and biases (--no-wd) or on '
                                'every parameter (--wd-all)', flags=('--no-wd', '--wd-all'))
    lr_mode: str = _field('epoch-step', 'lr schedule (gluon_aff.training.schedule): cosine, '
                                        'poly, linear, step (gluoncv, counted in updates), '
                                        'epoch-step (from the first batch of each decay epoch, '
                                        'no warm-up), constant', choices=MODES)
    warmup_epochs: int = _field(0, 'linear warm-up epochs (clipped to epochs - 1 for short runs)')
    warmup_lr: float = _field(0.0, 'lr at the start of the warm-up')
    lr_decay: float = _field(0.1, 'factor of each step decay')
    lr_decay_epochs: tuple = _field((), 'absolute epochs of the step decays, comma-separated '
                                        '(e.g. 300,350)', metavar='E1,E2')
    power: float = _field(2.0, 'exponent of the poly schedule')
    mixup: bool = _field(False, 'mixup (one lam ~ Beta(alpha, alpha) per batch)', tasks=_CLS,
                         flags=('--mixup', '--no-mixup'))
    mixup_alpha: float = _field(1.0, 'Beta parameter of mixup', tasks=_CLS)
    mixup_off_epochs: int = _field(0, 'last epochs trained with lam = 1 (no mixup)', tasks=_CLS)
    label_smoothing: float = _field(0.0, 'label smoothing eta; 0 disables', tasks=_CLS)
    init: str = _field('xavier', 'initialiser: xavier (original CIFAR), msraprelu (original '
                                 'ImageNet), kaiming (He normal, the paper\'s Table 2)',
                       choices=tuple(INITIALIZERS))
    auto_augment: bool = _field(False, 'AutoAugment before the other training transforms '
                                       '(CIFAR: cifar10 policy; ImageNet image folders: imagenet '
                                       'policy; RecordIO input has none, as the original)',
                                tasks=_CLS, flags=('--auto-augment', '--no-auto-augment'))
    dtype: str = _field('float32', 'weights and compute: float16 casts the network and keeps '
                                   'float32 master weights (multi_precision)',
                        tasks=('imagenet',), choices=('float32', 'float16'))
    amp: bool = _field(False, 'mixed precision with mxnet.contrib.amp: float32 weights and '
                              'checkpoints, convolutions and dense layers in --amp-dtype '
                              '(ImageNet: instead of the float16 cast)',
                       tasks=_CLS, flags=('--amp', '--no-amp'))
    amp_dtype: str = _field('float16', 'compute type of --amp: float16 (GPUs; dynamic loss '
                                       'scaling) or bfloat16 (CPUs with avx512_bf16; no loss '
                                       'scaling needed)', tasks=_CLS,
                            choices=('float16', 'bfloat16'))
    input_size: int = _field(224, 'training crop / validation size', tasks=('imagenet',))
    crop_ratio: float = _field(0.875, 'validation crop ratio (resize = ceil(input / ratio))',
                               tasks=('imagenet',))
    base_size: int = _field(520, 'base size of the joint segmentation augmentation',
                            tasks=('segmentation',))
    crop_size: int = _field(480, 'crop size of the joint segmentation augmentation',
                            tasks=('segmentation',))
    accumulate: int = _field(1, 'micro-batches per update: 2 runs batch 32 as 2 x 16 images, the '
                                'same mean gradient (docs/segmentation.md: memory, BatchNorm)',
                             tasks=('segmentation',))
    val_mode: str = _field('full', 'per-epoch validation: full images (the drafts\'), sliding '
                                   'windows or centre crops', tasks=('segmentation',),
                           choices=('full', 'sliding', 'crop'))
    teacher: str = _field(None, 'knowledge distillation teacher: a gluoncv model-zoo name '
                                '(pretrained, as the original) or a gluon-aff run folder / '
                                'checkpoint', tasks=('imagenet',), metavar='NAME_OR_RUN')
    temperature: float = _field(20.0, 'distillation temperature', tasks=('imagenet',))
    hard_weight: float = _field(0.5, 'weight of the hard-label loss in distillation (1: no '
                                     'distillation)', tasks=('imagenet',))
    init_from: str = _field(None, 'warm start: load only the weights of this file (a gluon-aff '
                                  'run folder or checkpoint, or an original open-aff .params) '
                                  'and train with a fresh optimizer and schedule (the '
                                  'original\'s --resume-from); --resume continues a run instead',
                            tasks=_CLS, metavar='PARAMS')
    log_interval: int = _field(0, 'log the original\'s "Epoch[e] Batch [b]" line every N '
                                  'batches (0: never)', metavar='N')

    # ------------------------------------------------------------------ checks and values
    def validate(self):
        """Raise ``ValueError`` naming the first inconsistent value; return ``self``."""
        if self.task not in TASKS:
            raise ValueError('task must be one of %s, got %r' % (', '.join(TASKS), self.task))
        if self.epochs <= 0 or self.batch_size <= 0 or self.lr < 0:
            raise ValueError('epochs (%d) and batch size (%d) must be positive and lr (%g) not '
                             'negative' % (self.epochs, self.batch_size, self.lr))
        if self.lr_mode not in MODES:
            raise ValueError('lr_mode must be one of %s, got %r' % (', '.join(MODES),
                                                                    self.lr_mode))
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError('warmup_epochs %d must be in [0, epochs=%d)'
                             % (self.warmup_epochs, self.epochs))
        if self.warmup_epochs and self.lr_mode in ('epoch-step', 'constant'):
            raise ValueError("lr_mode %r has no warm-up (the original's set_learning_rate "
                             "path): use --lr-mode step with --warmup-epochs, or "
                             "--warmup-epochs 0" % self.lr_mode)
        if self.init not in INITIALIZERS:
            raise ValueError('init must be one of %s, got %r' % (', '.join(INITIALIZERS),
                                                                 self.init))
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError('label_smoothing must be in [0, 1), got %r' % self.label_smoothing)
        if self.mixup and self.mixup_alpha <= 0:
            raise ValueError('mixup_alpha must be positive, got %r' % self.mixup_alpha)
        if self.dtype not in ('float32', 'float16'):
            raise ValueError("dtype must be 'float32' or 'float16', got %r" % (self.dtype,))
        if self.amp_dtype not in ('float16', 'bfloat16'):
            raise ValueError("amp_dtype must be 'float16' or 'bfloat16', got %r"
                             % (self.amp_dtype,))
        if self.base_size <= 0 or self.crop_size <= 0 or self.input_size <= 0:
            raise ValueError('input_size (%d), base_size (%d) and crop_size (%d) must be '
                             'positive' % (self.input_size, self.base_size, self.crop_size))
        if self.accumulate < 1 or self.log_interval < 0 or self.lr_ref_batch < 0:
            raise ValueError('accumulate (%d) must be >= 1, log_interval (%d) and lr_ref_batch '
                             '(%d) >= 0' % (self.accumulate, self.log_interval,
                                            self.lr_ref_batch))
        if not self.per_device_batch and self.batch_size % self.accumulate:
            raise ValueError('batch size %d does not split into %d micro-batches (accumulate): '
                             'use a multiple of %d' % (self.batch_size, self.accumulate,
                                                       self.accumulate))
        if self.val_mode not in ('full', 'sliding', 'crop'):
            raise ValueError("val_mode must be 'full', 'sliding' or 'crop', got %r"
                             % (self.val_mode,))
        if not 0.0 <= self.hard_weight <= 1.0 or self.temperature <= 0:
            raise ValueError('hard_weight must be in [0, 1] and temperature positive, got %r, '
                             '%r' % (self.hard_weight, self.temperature))
        if self.init_from and self.task == 'segmentation':
            raise ValueError('init_from is not supported by the segmentation trainer')
        return self

    def total_batch(self, num_devices, num_workers=1):
        """Samples per update: ``batch_size`` x devices x workers with ``per_device_batch``,
        else ``batch_size`` (which must then split evenly)."""
        if num_devices <= 0 or num_workers <= 0:
            raise ValueError('devices (%r) and workers (%r) must be positive'
                             % (num_devices, num_workers))
        if self.per_device_batch:
            return self.batch_size * num_devices * num_workers
        if self.batch_size % (num_devices * num_workers):
            raise ValueError('batch size %d is not divisible by the number of devices %d%s: use '
                             'a multiple of %d (or give the per-device batch size)'
                             % (self.batch_size, num_devices * num_workers,
                                '' if num_workers == 1 else ' (%d devices x %d workers)'
                                % (num_devices, num_workers), num_devices * num_workers))
        return self.batch_size

    def scaled_lr(self, total_batch):
        """The lr applied: ``lr * total_batch / lr_ref_batch``, or ``lr`` itself without a
        reference batch or with ``per_device_batch`` (the original's semantics)."""
        if not self.lr_ref_batch or self.per_device_batch:
            return float(self.lr)
        return float(self.lr) * total_batch / float(self.lr_ref_batch)

    def lr_schedule(self, iters_per_epoch, total_batch=None):
        """The gluoncv scheduler of this recipe for ``iters_per_epoch`` updates per epoch
        (:func:`~gluon_aff.training.schedule.build_lr_schedule`), at :meth:`scaled_lr`."""
        lr = self.lr if total_batch is None else self.scaled_lr(total_batch)
        return build_lr_schedule(lr, self.epochs, iters_per_epoch, self.lr_mode,
                                 self.warmup_epochs, self.warmup_lr, self.lr_decay_epochs,
                                 self.lr_decay, self.power)

    def optimizer_params(self, lr_scheduler):
        """The ``gluon.Trainer`` optimizer parameters (:func:`optimizer_params`)."""
        return optimizer_params(self.optimizer, self.momentum, self.wd, lr_scheduler)

    def soft_targets(self, classes, dtype=None):
        """The recipe's :class:`SoftTargets` (``None`` when it has neither mixup nor label
        smoothing and no ``dtype`` cast is asked for)."""
        if not (self.mixup or self.label_smoothing > 0 or dtype):
            return None
        return SoftTargets(classes, mixup=self.mixup, alpha=self.mixup_alpha,
                           off_epoch=self.epochs - self.mixup_off_epochs,
                           smoothing=self.label_smoothing, dtype=dtype)

    def as_dict(self):
        """The fields as a JSON-ready dict (checkpoint info, logs)."""
        values = asdict(self)
        values['lr_decay_epochs'] = list(self.lr_decay_epochs)
        return values


def recipe_fields(task=None):
    """The :class:`Recipe` fields (``dataclasses.Field``) that ``task`` uses (all: None)."""
    return [f for f in fields(Recipe) if task is None or task in f.metadata['tasks']]


# --------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Stage(object):
    """One run of a preset.

    Attributes
    ----------
    recipe : Recipe
    source : str or None
        The original's log of the run, as a path under its ``params/`` folder and under
        ``tests/data/openaff_logs`` (``final/...``, ``paper/...``), without ``.log``.
    segment : int or None
        The run's 0-based ``Namespace`` line in that log.
    logged : float or None
        Best value the run logged: test accuracy (CIFAR) or top-1 error (ImageNet).
    warm_start : bool
        Starts from the previous stage's best parameters (the original's ``resume_from``).
    notes : tuple of str
        What the log cannot say and how the value was chosen.
    """
    recipe: Recipe
    source: str = None
    segment: int = None
    logged: float = None
    warm_start: bool = False
    notes: tuple = ()


@dataclass(frozen=True)
class Preset(object):
    """A named way to train: one stage, or a chain of stages (see :class:`Stage`).

    Attributes
    ----------
    name, task, description : str
    stages : tuple of Stage
    model : str or None
        Zoo name the original trained (None: generic preset for any model of the task).
    labels : str or None
        CIFAR-100 label set of the run (``coarse``, ``fine``).
    code : str or None
        Version of the original code: ``final`` (0bcfd8a and its forerunners) or ``paper``
        (806562e).
    released : float or None
        The figure of the released checkpoint: the 4 decimals in its ``.params`` file name (the
        log prints more; its name is not the figure).
    metric : str
        ``val_acc`` (CIFAR, accuracy) or ``top1_err`` (ImageNet, error).
    """
    name: str
    task: str
    stages: tuple
    description: str = ''
    model: str = None
    labels: str = None
    code: str = None
    released: float = None
    metric: str = 'val_acc'
    notes: tuple = ()

    @property
    def is_chain(self):
        return len(self.stages) > 1

    def stage_name(self, k):
        """Recipe name of stage ``k`` (1-based): ``NAME:K`` of a chain, ``NAME`` otherwise."""
        if not 1 <= k <= len(self.stages):
            raise ValueError('%s has %d stage(s), no stage %d' % (self.name, len(self.stages), k))
        return '%s:%d' % (self.name, k) if self.is_chain else self.name


def _recipe(task, **values):
    return Recipe(task=task, **values).validate()


# Recipes as the original's logs ran them (each preset's stage names its log; tests/test_recipe.py
# derives every value again from those Namespace lines with recipe_from_namespace).
_CIFAR_COMMON = dict(epochs=640, batch_size=512, devices=4, lr=0.2, optimizer='nag', momentum=0.9,
                     wd=1e-4, mixup=True, mixup_alpha=1.0, mixup_off_epochs=40,
                     auto_augment=True, init='xavier')
#: the final train_cifar.py without --cosine: lr set by hand, x0.1 at --lr-decay-epoch minus
#: --warmup-epochs (300,450 - 20), no warm-up; --no-wd has no effect on that path
_CIFAR_FINAL = _recipe('cifar', **dict(_CIFAR_COMMON, lr_mode='epoch-step',
                                       lr_decay_epochs=(280, 430), label_smoothing=0.1))
#: the final train_cifar.py with --cosine (its warm-started stages): warm-up 20, cosine, --no-wd
_CIFAR_COSINE = _recipe('cifar', **dict(_CIFAR_COMMON, lr_mode='cosine', warmup_epochs=20,
                                        no_wd=True, label_smoothing=0.1))
#: the forerunner of the final train_cifar.py (first stages of AFF-ResNet-32 and ResNeXt-38): no
#: --cosine, --warmup-epochs or --label-smoothing yet, decays at 300,450 unshifted
_CIFAR_FORERUNNER = _recipe('cifar', **dict(_CIFAR_COMMON, lr_mode='epoch-step',
                                            lr_decay_epochs=(300, 450)))
_FINE = dict(batch_size=256, devices=2, lr_decay_epochs=(290, 440))
#: paper-version train_cifar.py (806562e): mixup always on (alpha 1, lam = 1 for the last 20
#: epochs), no label smoothing, decays unshifted; one GPU of 128 in its logs
_CIFAR_PAPER = _recipe('cifar', epochs=400, batch_size=128, devices=1, lr=0.2, optimizer='nag',
                       momentum=0.9, wd=1e-4, lr_mode='epoch-step', lr_decay_epochs=(300, 350),
                       mixup=True, mixup_alpha=1.0, mixup_off_epochs=20, init='xavier')
_IMAGENET_COMMON = dict(batch_size=512, devices=4, lr=0.075, lr_ref_batch=512, optimizer='nag',
                        momentum=0.9, wd=1e-4, no_wd=True, lr_mode='cosine', warmup_epochs=5,
                        power=2.0, mixup=True, mixup_alpha=0.2, label_smoothing=0.1,
                        dtype='float16', input_size=224, crop_ratio=0.875, init='msraprelu',
                        log_interval=50)
_IMAGENET_FINAL = _recipe('imagenet', epochs=240, mixup_off_epochs=5, **_IMAGENET_COMMON)
_IMAGENET_PAPER = _recipe('imagenet', epochs=160, mixup_off_epochs=0, **_IMAGENET_COMMON)


def _batch(recipe, total, devices):
    """``recipe`` for another total batch, its lr meant for that batch (as the original ran)."""
    return replace(recipe, batch_size=total, devices=devices,
                   lr_ref_batch=total if recipe.lr_ref_batch else 0)


_FORERUNNER_NOTE = ('forerunner of the final train_cifar.py (no --cosine, --warmup-epochs, '
                    '--mixup-alpha, --mixup-off-epoch or --label-smoothing in its Namespace): '
                    'decays at 300,450 unshifted; mixup alpha 1 and the last 40 epochs without '
                    'it assumed from the final code\'s defaults')
_NO_WD_NOTE = '--no-wd logged, but it only acts with --cosine in the final code: wd on everything'
_FINE_NOTE = ('fine labels: from the log\'s folder (superclasses/ holds the coarse runs) and its '
              'accuracy; the Namespace cannot say (the code\'s CIFAR100() call has no option)')
_REC_AA_NOTE = ('auto_aug=True logged, but the RecordIO input path (use_rec) never applied '
                'AutoAugment: off')
_F = 'final/cifar100/'
_FI = 'final/imagenet/'
_PI = 'paper/imagenet/'


def _cifar_released():
    r32, x38, x47 = (_F + 'AFF-ResNet-32/', _F + 'AFF-ResNeXt-38-32x4d/',
                     _F + 'AFF-ResNeXt-47-32x4d/')
    return [
        Preset('openaff-aff-resnet32', 'cifar', (
            Stage(_CIFAR_FORERUNNER, r32 + 'superclasses/From_Scratch_Log_train_cifar100_'
                  'cifar100-ASKCFuse-resnet-32-c-4-s-1', 0, 0.9031,
                  notes=(_FORERUNNER_NOTE, 'the logged run stopped after epoch 525 of 640; its '
                         'best (0.9031, epoch 521) is the file stage 2 started from')),
            Stage(_CIFAR_COSINE, r32 + 'superclasses/train_cifar100_cifar100-ASKCFuse-resnet-'
                  '32-c-4-s-1', 0, 0.9078, warm_start=True,
                  notes=('the From_Scratch log holds this run again (its segment 5) after four '
                         'aborted starts',))),
            'AFF-ResNet-32, CIFAR-100 20 super-classes (released 0.9078)',
            model='cifar_aff_resnet32', labels='coarse', code='final', released=0.9078),
        Preset('openaff-aff-resnext38', 'cifar', (
            Stage(_CIFAR_FORERUNNER, x38 + 'From_Scratch_Log_train_cifar100_cifar100-ASKCFuse-'
                  'resneXt-38-c-4-s-1', 0, 0.9065, notes=(
                      _FORERUNNER_NOTE, 'its log\'s best val is 0.906500, its best file (the one '
                      'stage 2 started from) is named 0.9066-...-best.params; this log printed '
                      'no lr')),
            Stage(_CIFAR_FINAL, x38 + 'train_cifar100-ASKCFuse-resneXt-38-c-4-s-1', 0, 0.9123,
                  warm_start=True)),
            'AFF-ResNeXt-38-32x4d, CIFAR-100 20 super-classes (released 0.9123)',
            model='cifar_aff_resnext38_32x4d', labels='coarse', code='final', released=0.9123),
        Preset('openaff-aff-resnext47', 'cifar', (
            Stage(_CIFAR_FINAL, x47 + 'superclass/From_Scratch_Log_train_cifar100-ASKCFuse-'
                  'resneXt-47-c-4-s-1', 0, 0.9091),
            Stage(_CIFAR_COSINE, x47 + 'train_cifar100-ASKCFuse-resneXt-47-32x4-c-4-s-1', 0,
                  0.9147, warm_start=True),
            Stage(_CIFAR_FINAL, x47 + 'superclass/train_cifar100-ASKCFuse-resneXt-47-32x4-c-4-'
                  's-1', 0, 0.9184, warm_start=True, notes=(
                      'the stage-2 log holds this run again (its segment 2); its segment 1, a '
                      'cosine restart at lr 0.05 from the same file, reached 0.9101',))),
            'AFF-ResNeXt-47-32x4d, CIFAR-100 20 super-classes (released 0.9184)',
            model='cifar_aff_resnext47_32x4d', labels='coarse', code='final', released=0.9184),
        Preset('openaff-aff-resnet32-fine', 'cifar', (
            Stage(replace(_CIFAR_FINAL, **_FINE), r32 + 'train_cifar100-ASKCFuse-resnet-32-c-4-'
                  's-1', 1, 0.8357, notes=(_FINE_NOTE, _NO_WD_NOTE, '2 GPUs x 128; '
                                           '--warmup-epochs 10 shifts the decays to 290,440')),),
            'AFF-ResNet-32, CIFAR-100 100 classes (released 0.8357)',
            model='cifar_aff_resnet32', labels='fine', code='final', released=0.8357),
        Preset('openaff-aff-resnext47-fine', 'cifar', (
            Stage(replace(_CIFAR_FINAL, **_FINE), x47 + 'train_cifar100-ASKCFuse-resneXt-47-'
                  '32x4-c-4-s-1', 5, 0.8538, notes=(_FINE_NOTE, _NO_WD_NOTE, '2 GPUs x 128; '
                                                    '--warmup-epochs 10 shifts the decays to '
                                                    '290,440')),),
            'AFF-ResNeXt-47-32x4d, CIFAR-100 100 classes (released 0.8538)',
            model='cifar_aff_resnext47_32x4d', labels='fine', code='final', released=0.8538),
    ]


def _imagenet_runs():
    final = [('aff-resnet50', 'aff_resnet50', 'AFF-ResNet-50/aff_resnet50', 0, 0.202803, 0.2028),
             ('aff-resnext50', 'aff_resnext50_32x4d', 'AFF-ResNeXt-50/aff_resnext50', 0,
              0.202766, 0.2028),
             ('iaff-resnet50', 'iaff_resnet50', 'iAFF-ResNet-50/iaff_resnet50', 0, 0.202159,
              0.2022),
             ('iaff-resnext50', 'iaff_resnext50_32x4d', 'iAFF-ResNeXt-50/iaff_resnext50', 5,
              0.197829, 0.1978)]
    presets = []
    for short, model, log, segment, logged, released in final:
        notes = (_REC_AA_NOTE,) + ((
            'segment 0 of the log asked for input_size=320 but logged no batch; the 240-epoch '
            'run is segment 5, at 224',) if segment else ())
        presets.append(Preset('openaff-' + short, 'imagenet', (
            Stage(_IMAGENET_FINAL, _FI + log, segment, logged, notes=notes),),
            '%s, ImageNet (released top-1 error %.4f)' % (model, released), model=model,
            code='final', released=released, metric='top1_err'))
    sota, ablation = _PI + 'sota/', _PI + 'ablation/'
    no_mixup = replace(_batch(_IMAGENET_PAPER, 256, 2), mixup=False)
    paper = [
        ('aff-resnet50', 'aff_resnet50_paper', _batch(_IMAGENET_PAPER, 240, 2),
         sota + 'AFF-ResNet-50/resnet50_v1b_best_AFF_mixup', 20, 0.208994,
         'Table 5: 2 GPUs x 120 (the 19 starts before it in this log logged no epoch)'),
        ('aff-resnext50', 'aff_resnext50_32x4d_paper', _IMAGENET_PAPER,
         sota + 'AFF-ResNeXt-50-32x4d/resnext50_32x4d_aff_best', 3, 0.208566, 'Table 5'),
        ('iaff-resnet50', 'iaff_resnet50_paper',
         replace(_batch(_IMAGENET_PAPER, 192, 2), epochs=180),
         sota + 'iAFF-ResNet-50/resnet50_v1b_best_iAFF', 3, 0.204347,
         'Table 5: 2 GPUs x 96, 180 epochs'),
        ('iaff-resnext50', 'iaff_resnext50_32x4d_paper', _IMAGENET_PAPER,
         sota + 'iAFF-ResNeXt-50-32x4d/resnext50_32x4d_iaff_best', 1, 0.202481, 'Table 5'),
        ('gg-resnet50', 'gg_resnet50_paper', no_mixup,
         ablation + 'resnet50_v1b_GlobGlob_div16', 5, 0.223197,
         'Table 3 (Global + Global): 2 GPUs x 128, no mixup'),
        ('ll-resnet50', 'll_resnet50_paper', no_mixup,
         ablation + 'resnet50_v1b_LocaLoca_div16.1', 3, 0.219972,
         'Table 3 (Local + Local): 2 GPUs x 128, no mixup'),
        ('aff-resnet50-ablation', 'aff_resnet50_paper', no_mixup,
         sota + 'AFF-ResNet-50/resnet50_v1b_best_div16_resume', 0, 0.216166,
         'Table 3 (AFF), inferred: its best error 0.216166 is the table\'s 0.784 and it ran '
         'without mixup like the other two ablations; its Namespace names no fusion (an older '
         'script); the log is a run resumed at epoch 65 from the states of epoch 69, its '
         'first epochs are not logged, and the preset trains all 160 epochs'),
    ]
    for short, model, recipe, log, segment, logged, note in paper:
        presets.append(Preset('paper-' + short, 'imagenet', (
            Stage(recipe, log, segment, logged, notes=(note,)),),
            '%s, paper-version run (%s)' % (model, note.split(':')[0].split(',')[0]),
            model=model, code='paper', metric='top1_err'))
    return presets


def _build_presets():
    generic = [
        Preset('final', 'cifar', (Stage(_CIFAR_FINAL, _F + 'AFF-ResNeXt-47-32x4d/superclass/'
                                        'From_Scratch_Log_train_cifar100-ASKCFuse-resneXt-47-'
                                        'c-4-s-1', 0, notes=(_NO_WD_NOTE,)),),
               'final open-aff train_cifar.py from scratch, as its logs ran it (step decays '
               '280/430, AutoAugment, mixup, label smoothing, 4 GPUs x 128)', code='final'),
        Preset('final-cosine', 'cifar', (Stage(_CIFAR_COSINE, _F + 'AFF-ResNet-32/superclasses/'
                                               'train_cifar100_cifar100-ASKCFuse-resnet-32-c-4-'
                                               's-1', 0),),
               'final open-aff train_cifar.py with --cosine, as its warm-started stages ran '
               '(warm-up 20, cosine, --no-wd)', code='final'),
        Preset('paper', 'cifar', (Stage(_CIFAR_PAPER, 'paper/cifar100/sota/resnet-32-aff-host/'
                                        'r=4/train_cifar100_resnet_v2_askc_blocks_5_channel_'
                                        'times_4_start_layer_1_mixup', 0, notes=(
                                            'the paper-version script (806562e) always mixes '
                                            'up; the supplement says the ablations had no '
                                            'mixup: --no-mixup',)),),
               'paper-version open-aff train_cifar.py: 400 epochs, step 300/350, mixup always '
               'on (Tables 3, 4, 6)', code='paper'),
        Preset('final', 'imagenet', (Stage(_IMAGENET_FINAL, _FI + 'AFF-ResNet-50/aff_resnet50',
                                           0, notes=(_REC_AA_NOTE,)),),
               'final open-aff train_imagenet.py as its logs ran it (240 epochs, 4 GPUs x 128)',
               code='final', metric='top1_err'),
        Preset('paper', 'imagenet', (Stage(_IMAGENET_PAPER, _PI + 'sota/AFF-ResNeXt-50-32x4d/'
                                           'resnext50_32x4d_aff_best', 3),),
               'paper-version train_imagenet.py (160 epochs, mixup never off, 4 GPUs x 128)',
               code='paper', metric='top1_err'),
        Preset('paper', 'segmentation', (Stage(_recipe(
            'segmentation', epochs=300, batch_size=32, devices=1, lr=0.01, optimizer='adagrad',
            lr_mode='poly', power=0.9, wd=1e-4, init='kaiming', base_size=520, crop_size=480)),),
               'StopSign: the paper\'s Table 2 (AdaGrad lr 0.01, poly, 300 epochs, batch 32, '
               'Kaiming) and GluonCV\'s unstated values (poly power 0.9, wd 1e-4, crop 480)',
               metric='val_miou'),
    ]
    presets = {}
    for preset in generic + _cifar_released() + _imagenet_runs():
        for stage in preset.stages:
            assert stage.recipe.task == preset.task, preset.name
        presets[(preset.task, preset.name)] = preset
    return presets


#: ``(task, name) -> Preset``
PRESETS = _build_presets()
#: the preset each training command uses without --recipe
DEFAULT_PRESET = {'cifar': 'final', 'imagenet': 'final', 'segmentation': 'paper'}


def preset_names(task):
    """Names of the presets of ``task`` (chains as their bare name)."""
    return sorted(name for t, name in PRESETS if t == task)


def get_preset(name, task):
    """The :class:`Preset` ``name`` (without ``:K``) of ``task``."""
    if task not in TASKS:
        raise ValueError('task must be one of %s, got %r' % (', '.join(TASKS), task))
    if (task, name) not in PRESETS:
        other = [t for t in TASKS if (t, name) in PRESETS]
        raise ValueError('unknown %s recipe %r%s; choose one of %s' % (
            task, name, ' (a %s recipe)' % other[0] if other else '',
            ', '.join(preset_names(task))))
    return PRESETS[(task, name)]


def find_preset(name, task):
    """``(preset, stage index 0-based)`` of a recipe name ``NAME`` or ``NAME:K``.

    A chain needs ``:K``: its stages are separate runs, each warm-started from the previous
    one's best parameters.
    """
    base, _, k = str(name).partition(':')
    preset = get_preset(base, task)
    if not k:
        if preset.is_chain:
            raise ValueError(
                '%s is a chain of %d stages (each from the previous one\'s best parameters): give '
                '--recipe %s:1 for the first, then %s:2 --init-from RUN1 ...; `gluon-aff '
                'reproduce plan --tables released` prints the whole chain'
                % (base, len(preset.stages), base, base))
        return preset, 0
    try:
        index = int(k) - 1
    except ValueError:
        raise ValueError('recipe %r: the stage after ":" must be a number' % name) from None
    if not 0 <= index < len(preset.stages):
        raise ValueError('%s has %d stage(s), no stage %s' % (base, len(preset.stages), k))
    return preset, index


def require_warm_start(preset, index, recipe, resume=False):
    """Refuse to start stage ``index`` of a chain that warm-starts without ``init_from``."""
    from ..errors import UserError
    stage = preset.stages[index]
    if stage.warm_start and not recipe.init_from and not resume:
        raise UserError('%s starts from the best parameters of stage %d: give --init-from RUN '
                        '(the run folder of %s, or its .params file)'
                        % (preset.stage_name(index + 1), index, preset.stage_name(index)))


def get_recipe(name=None, task='cifar', **overrides):
    """A copy of preset recipe ``name`` (``NAME`` or ``NAME:K``; default: the task's default
    preset) with ``overrides`` (``None`` values keep the preset's), validated.

    A warm-up longer than the run is clipped to ``epochs - 1`` with a warning (smoke runs);
    ``per_device_batch=True`` without ``batch_size`` gives the original's per-device batch
    (``batch_size / devices`` of the preset).
    """
    from .engine import clip_warmup
    name = name or DEFAULT_PRESET[task]
    preset, index = find_preset(name, task)
    recipe = preset.stages[index].recipe
    known = {f.name for f in fields(Recipe)} - {'name', 'task'}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError('unknown recipe field(s) %s; known: %s' % (unknown, sorted(known)))
    values = {k: v for k, v in overrides.items() if v is not None}
    if 'lr_decay_epochs' in values:
        values['lr_decay_epochs'] = tuple(int(e) for e in values['lr_decay_epochs'])
    if values.get('per_device_batch') and not recipe.per_device_batch \
            and 'batch_size' not in values:
        values['batch_size'] = max(1, recipe.batch_size // recipe.devices)
    recipe = replace(recipe, name=name, **values)
    recipe.warmup_epochs = clip_warmup(recipe.epochs, recipe.warmup_epochs)
    return recipe.validate()


def recipe_from_saved(values, task, **overrides):
    """The :class:`Recipe` a checkpoint saved (``info['recipe']``, any gluon-aff version), with
    ``overrides`` (``None`` keeps the saved value): a resumed run keeps its own values even
    where a preset of the same name changed since.

    Checkpoints written before the recipe layer hold the CIFAR trainer's old fields: its
    ``'step'`` without warm-up was the ``'epoch-step'`` schedule; unknown keys are dropped.
    """
    known = {f.name for f in fields(Recipe)}
    saved = {k: v for k, v in values.items() if k in known}
    if 'task' not in values and saved.get('lr_mode') == 'step' \
            and not saved.get('warmup_epochs'):
        saved['lr_mode'] = 'epoch-step'
    if 'lr_decay_epochs' in saved:
        saved['lr_decay_epochs'] = tuple(int(e) for e in saved['lr_decay_epochs'])
    if 'init' in saved:
        saved['init'] = str(saved['init']).lower()
    saved['task'] = task
    recipe = replace(Recipe(**saved), **{k: v for k, v in overrides.items() if v is not None})
    if 'lr_decay_epochs' in overrides and overrides['lr_decay_epochs'] is not None:
        recipe.lr_decay_epochs = tuple(int(e) for e in overrides['lr_decay_epochs'])
    return recipe.validate()


# --------------------------------------------------------------------------- flags
def _flag(f):
    return '--' + f.name.replace('_', '-')


def _epochs_list(text):
    try:
        return tuple(int(e) for e in str(text).split(',') if e.strip())
    except ValueError:
        raise argparse.ArgumentTypeError('expected comma-separated epochs such as 300,350, got '
                                         '%r' % (text,)) from None


def _recipe_name(task):
    def check(text):
        try:
            find_preset(text, task)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return text
    check.__name__ = 'recipe'
    return check


def add_recipe_flags(parser, task, title=None):
    """Add ``--recipe NAME[:K]`` and one flag per :class:`Recipe` field that ``task`` uses.

    The flags are generated from the fields (name, type, help text, choices; booleans as an
    on/off pair such as ``--mixup`` / ``--no-mixup``); every one defaults to ``None``, i.e. the
    preset's value (:func:`recipe_from_args`).
    """
    group = parser.add_argument_group(title or 'recipe (every value defaults to the --recipe '
                                      'preset)')
    group.add_argument('--recipe', type=_recipe_name(task), default=DEFAULT_PRESET[task],
                       metavar='NAME[:K]',
                       help='preset: %s; NAME:K is stage K of a chain (docs/reproducing.md)'
                       % ', '.join(preset_names(task)))
    for f in recipe_fields(task):
        meta = f.metadata
        if meta['flags']:
            on, off = meta['flags']
            group.add_argument(on, dest=f.name, action='store_true', default=None,
                               help=meta['help'])
            group.add_argument(off, dest=f.name, action='store_false',
                               help='the opposite of %s' % on)
            continue
        kind = type(f.default) if f.default is not None else str
        kwargs = dict(dest=f.name, default=None, help=meta['help'], metavar=meta['metavar'])
        if f.name == 'lr_decay_epochs':
            kwargs['type'] = _epochs_list
        else:
            kwargs['type'] = kind
        if meta['choices']:
            kwargs['choices'] = meta['choices']
            kwargs.pop('metavar')
        group.add_argument(_flag(f), **kwargs)
    return parser


def recipe_from_args(args, task, saved=None):
    """The :class:`Recipe` of parsed :func:`add_recipe_flags` arguments; with ``saved`` (a
    resumed run's recipe dict, :func:`recipe_from_saved`), the saved values with the flags
    given in ``args`` over them."""
    given = {f.name: getattr(args, f.name) for f in recipe_fields(task)}
    if saved:
        return recipe_from_saved(saved, task, **given)
    return get_recipe(args.recipe, task, **given)


def _value_text(value):
    if isinstance(value, tuple):
        return ','.join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def recipe_argv(recipe, base=None):
    """Flags that give ``recipe``: ``--recipe BASE`` and every field that differs from it.

    ``base`` is a preset name of the recipe's task (default: the recipe's own name if it is a
    preset, else the task's default). Raises ``ValueError`` for a difference no flag of the
    task can express.
    """
    base = base or (recipe.name if recipe.name else DEFAULT_PRESET[recipe.task])
    reference = get_recipe(base, recipe.task)
    argv = ['--recipe', base]
    task_fields = {f.name for f in recipe_fields(recipe.task)}
    for f in fields(Recipe):
        value, ref = getattr(recipe, f.name), getattr(reference, f.name)
        if not f.compare or value == ref:
            continue
        if f.name not in task_fields:
            raise ValueError('%s=%r differs from preset %s (%r), and train-%s has no flag for it'
                             % (f.name, value, base, ref, recipe.task))
        if f.metadata['flags']:
            argv.append(f.metadata['flags'][0 if value else 1])
        elif value is None:
            raise ValueError('%s=None cannot be given as a flag (preset %s sets %r)'
                             % (f.name, base, ref))
        else:
            argv += [_flag(f), _value_text(value)]
    return argv


# --------------------------------------------------------------------------- from a log
def recipe_from_namespace(namespace, notes=None):
    """The recipe an original open-aff run applied, from its log's ``Namespace`` (a dict).

    The *effective* values: what the original code did with the options, not the options
    themselves (``--no-wd`` without ``--cosine`` in the final CIFAR code is off; ``auto_aug`` on
    RecordIO input is off; the final CIFAR step decays are shifted by ``--warmup-epochs``; total
    batch = per-device batch x devices). The schedule comes from
    :func:`gluon_aff.training.schedule.schedule_from_namespace`, which replays every lr the
    original logs printed. ``notes`` (a list) receives what the Namespace could not say.

    A warm-started run (CIFAR ``resume_from``, ImageNet ``resume_params`` without
    ``resume_epoch``) gets ``init_from`` = the logged file. A resumed ImageNet run
    (``resume_epoch``) is described as the whole run from scratch.
    """
    from ..reproduce.openaff_logs import code_version, log_task
    from .schedule import devices_of, schedule_from_namespace
    notes = notes if notes is not None else []
    ns = namespace
    task, version = log_task(ns), code_version(ns)
    schedule = schedule_from_namespace(ns)
    step = schedule.mode in ('step', 'epoch-step')
    common = dict(epochs=int(ns['num_epochs']), batch_size=schedule.total_batch,
                  devices=devices_of(ns), lr=float(ns['lr']), optimizer='nag',
                  momentum=float(ns.get('momentum', 0.9)), wd=float(ns.get('wd', 1e-4)),
                  lr_mode=schedule.mode, warmup_epochs=schedule.warmup_epochs,
                  lr_decay=float(ns.get('lr_decay', 0.1)),
                  lr_decay_epochs=tuple(schedule.decay_epochs) if step else ())
    if float(ns.get('warmup_lr') or 0.0) and schedule.warmup_epochs:
        notes.append('warmup_lr=%s logged, but the original started every warm-up at 0'
                     % ns['warmup_lr'])
    if task == 'cifar':
        final = version == 'final'
        no_wd = bool(ns.get('no_wd')) and bool(ns.get('cosine'))
        if ns.get('no_wd') and not no_wd:
            notes.append(_NO_WD_NOTE)
        if final and 'mixup_alpha' not in ns:
            notes.append(_FORERUNNER_NOTE)
        mixup = bool(ns.get('mixup')) if final else True
        recipe = Recipe(
            task='cifar', no_wd=no_wd, mixup=mixup,
            mixup_alpha=float(ns.get('mixup_alpha', 1.0)),
            mixup_off_epochs=int(ns.get('mixup_off_epoch', 40 if final else 20)),
            label_smoothing=0.1 if ns.get('label_smoothing') else 0.0,
            auto_augment=bool(ns.get('auto_aug')), init='xavier',
            init_from=ns.get('resume_from') or None, **common)
        if ns.get('dataset') == 'cifar100':
            notes.append('labels: the Namespace cannot tell coarse from fine (the original\'s '
                         'CIFAR100() default is the 20 coarse labels; the released fine-label '
                         'runs changed that call)')
        return recipe.validate()
    use_rec = bool(ns.get('use_rec', True))
    auto_augment = bool(ns.get('auto_aug')) and not use_rec
    if ns.get('auto_aug') and use_rec:
        notes.append(_REC_AA_NOTE)
    init_from = None
    if ns.get('resume_params'):
        if int(ns.get('resume_epoch') or 0):
            notes.append('resumed at epoch %d from %s (and its trainer states): the recipe '
                         'describes the whole run from scratch; gluon-aff continues an '
                         'interrupted run with --resume' % (ns['resume_epoch'],
                                                            ns['resume_params']))
        else:
            init_from = ns['resume_params']
    teacher = ns.get('teacher') or None
    recipe = Recipe(
        task='imagenet', lr_ref_batch=schedule.total_batch, no_wd=bool(ns.get('no_wd')),
        power=2.0, mixup=bool(ns.get('mixup')), mixup_alpha=float(ns.get('mixup_alpha', 0.2)),
        mixup_off_epochs=int(ns.get('mixup_off_epoch', 0)),
        label_smoothing=0.1 if ns.get('label_smoothing') else 0.0, init='msraprelu',
        auto_augment=auto_augment, dtype=str(ns.get('dtype', 'float32')),
        input_size=int(ns.get('input_size', 224)), crop_ratio=float(ns.get('crop_ratio', 0.875)),
        teacher=teacher, temperature=float(ns.get('temperature', 20)),
        hard_weight=float(ns.get('hard_weight', 0.5)), init_from=init_from,
        log_interval=int(ns.get('log_interval') or 0), **common)
    return recipe.validate()


# --------------------------------------------------------------------------- training parts
class SoftTargets(object):
    """Mixup and label smoothing as the original scripts (CIFAR and ImageNet, both versions).

    A ``batch_transform(data_list, label_list, epoch)`` for :func:`gluon_aff.training.fit`.
    With mixup, one ``lam ~ Beta(alpha, alpha)`` is drawn per batch (NumPy's global RNG; drawn
    in every epoch) and set to 1 from ``off_epoch`` on; every device slice ``X`` becomes
    ``lam * X + (1 - lam) * X[::-1]`` and its targets ``lam * s(y) + (1 - lam) * s(y[::-1])``,
    ``s`` the one-hot vector smoothed to ``1 - eta + eta / classes`` / ``eta / classes``.
    Without mixup, ``s(y)`` when ``smoothing > 0``, else the hard labels. ``dtype`` casts data
    and targets (the original ImageNet script computed its loss in float16).

    Parameters
    ----------
    classes : int
        Width of the target vectors (the head size).
    mixup : bool, default False
    alpha : float, default 1.0
    off_epoch : int or None
        First epoch with ``lam = 1`` (the original: ``epochs - mixup_off_epochs``).
    smoothing : float, default 0.0
        Label smoothing ``eta``.
    dtype : str or None
    """

    def __init__(self, classes, mixup=False, alpha=1.0, off_epoch=None, smoothing=0.0,
                 dtype=None):
        if classes < 2:
            raise ValueError('classes must be >= 2, got %r' % (classes,))
        if mixup and alpha <= 0:
            raise ValueError('mixup alpha must be positive, got %r' % (alpha,))
        if not 0 <= smoothing < 1:
            raise ValueError('label smoothing must be in [0, 1), got %r' % (smoothing,))
        self.classes, self.mixup, self.alpha, self.off_epoch = classes, mixup, alpha, off_epoch
        self.smoothing, self.dtype = smoothing, dtype

    @property
    def sparse_label(self):
        """Whether the targets are class indices (no mixup, no smoothing)."""
        return not (self.mixup or self.smoothing > 0)

    def _onehot(self, label):
        eta = self.smoothing
        return label.one_hot(self.classes, on_value=1 - eta + eta / self.classes,
                             off_value=eta / self.classes)

    def __call__(self, data, labels, epoch):
        if self.mixup:
            lam = float(np.random.beta(self.alpha, self.alpha))
            if self.off_epoch is not None and epoch >= self.off_epoch:
                lam = 1.0
            data = [lam * x + (1 - lam) * x[::-1] for x in data]
            targets = [lam * self._onehot(y) + (1 - lam) * self._onehot(y[::-1])
                       for y in labels]
        elif self.smoothing > 0:
            targets = [self._onehot(y) for y in labels]
        else:
            targets = labels
        if self.dtype:
            data = [x.astype(self.dtype, copy=False) for x in data]
            targets = [y.astype(self.dtype, copy=False) for y in targets]
        return data, targets


def apply_no_wd(net):
    """``wd_mult = 0`` for BN gamma/beta and every bias, the original's ``--no-wd``
    (``collect_params('.*beta|.*gamma|.*bias')``); returns the parameter names changed."""
    params = net.collect_params('.*beta|.*gamma|.*bias')
    for param in params.values():
        param.wd_mult = 0.0
    return sorted(params.keys())


def make_initializer(name):
    """The initialiser called ``name`` in :data:`INITIALIZERS` (case-insensitive)."""
    import mxnet as mx
    key = str(name).lower()
    if key not in INITIALIZERS:
        raise ValueError('unknown init %r; choose one of %s' % (name, ', '.join(INITIALIZERS)))
    return INITIALIZERS[key](mx)


def warm_start(net, path, model, ctx=None):
    """Load only the weights of ``path`` into ``net`` (the original's ``--resume-from``).

    Parameters
    ----------
    net : HybridBlock
        The network to train, initialised (shapes resolved here if still deferred).
    path : str
        A gluon-aff run folder (its best checkpoint, else last), a checkpoint prefix or file, or
        a bare ``.params`` file of gluon-aff or of the original (any layout
        :func:`gluon_aff.model_zoo.convert.load_original` reads, float16 included).
    model : dict
        ``net``'s record (:func:`~gluon_aff.training.run.model_record`): a checkpoint of
        another network is refused, a bare file is read as this network.
    ctx : Context or list

    Returns the checkpoint state of ``path`` (``epoch``, ``metrics``... when it has one). The
    optimizer, its update count and the lr schedule are not touched: the caller builds them
    fresh, as the original did.
    """
    import mxnet as mx
    from ..errors import UserError
    from .engine import as_context_list
    from .run import load_run
    ctx = as_context_list(ctx)
    source, state = load_run(path, model=model['name'], model_kwargs=model.get('kwargs'),
                             ctx=ctx)
    dst = net._collect_params_with_prefix()
    if any(0 in p.shape for p in dst.values()):
        shape = (1, 3) + tuple(model['card']['input_size'])
        net(mx.nd.zeros(shape, ctx=ctx[0]))
    src = source._collect_params_with_prefix()
    if set(src) != set(dst):
        raise UserError('%s does not hold the parameters of %s (%s differ): give a file of '
                        'this network' % (path, model['name'], sorted(set(src) ^ set(dst))[:3]))
    for key, param in dst.items():
        value = src[key].data()
        if value.shape != param.shape:
            raise UserError('%s: %s has shape %s, %s needs %s' % (path, key, value.shape,
                                                                   model['name'], param.shape))
        param.set_data(value.astype(param.dtype))
    return state


class BatchLogger(object):
    """A batch callback for :func:`gluon_aff.training.fit` writing the original ImageNet
    script's line every ``interval`` batches:
    ``Epoch[e] Batch [b]\\tSpeed: <samples/s> samples/sec\\t<metric>=<value>\\tlr=<lr>``
    (speed over the interval, the running train metric, the lr of the update just made)."""

    def __init__(self, interval, logger):
        self.interval, self.logger = int(interval), logger
        self._tic, self._samples, self._epoch = None, 0, None

    def __call__(self, epoch, batch, batch_size, trainer, metric):
        if self._epoch != epoch or self._tic is None:
            self._epoch, self._tic, self._samples = epoch, time.time(), 0
        self._samples += batch_size
        if not self.interval or (batch + 1) % self.interval:
            return
        names, values = metric.get()
        if not isinstance(names, (list, tuple)):
            names, values = [names], [values]
        speed = self._samples / max(time.time() - self._tic, 1e-9)
        self.logger.info('Epoch[%d] Batch [%d]\tSpeed: %f samples/sec\t%s\tlr=%f' % (
            epoch, batch, speed, '\t'.join('%s=%f' % (n, v) for n, v in zip(names, values)),
            trainer.learning_rate))
        self._tic, self._samples = time.time(), 0

