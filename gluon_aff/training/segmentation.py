"""StopSign segmentation recipe (paper Table 2 + appendix), run through :func:`~.engine.fit`.

Table 2: ResNet-20-b + FPN, AdaGrad, lr 0.01, poly schedule, 300 epochs, batch 32, Kaiming
init; appendix: cross-entropy loss, mIoU as the evaluation metric. What the paper does not state
comes from GluonCV's segmentation recipe, the code base the authors built on: poly power 0.9,
weight decay 1e-4, ``SoftmaxCrossEntropyLoss`` with ignore label -1, ``SegmentationMetric``
(pixel accuracy and mIoU over both classes), joint augmentation with ``base_size=520`` /
``crop_size=480`` and ImageNet mean/std normalisation. ``docs/segmentation.md`` lists them.

The epoch loop, checkpoints, resume, metrics file and NaN guard are the shared engine's; this
module supplies the recipe, the metric adapter (:class:`SegmentationScores`), the validator and
the plotting/overlay helpers of the scripts.
"""
import os
from dataclasses import asdict, dataclass

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon.data.vision import transforms
from gluoncv.loss import SoftmaxCrossEntropyLoss
from gluoncv.utils.metrics import SegmentationMetric

from .checkpoint import require_checkpoint, seed_everything
from . import curves
from .engine import as_context_list, check_batch_size, fit, split_batch
from .run import open_run
from .schedule import build_lr_schedule

__all__ = ['SegmentationRecipe', 'SegmentationScores', 'segmentation_validator',
           'evaluate_segmentation', 'image_transform', 'build_poly_scheduler',
           'train_segmentation', 'plot_curves', 'overlay', 'MEAN', 'STD', 'INITIALIZERS']

#: ImageNet statistics, GluonCV's segmentation normalisation
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: ``kaiming`` = He normal for ReLU (Table 2); ``xavier`` as the CIFAR code of the original
INITIALIZERS = {'kaiming': lambda: mx.init.MSRAPrelu(factor_type='in', slope=0.0),
                'xavier': lambda: mx.init.Xavier()}


@dataclass
class SegmentationRecipe(object):
    """Hyper-parameters of a StopSign run (defaults: Table 2 + GluonCV's unstated values)."""
    epochs: int = 300
    batch_size: int = 32
    lr: float = 0.01
    optimizer: str = 'adagrad'
    lr_mode: str = 'poly'
    power: float = 0.9
    wd: float = 1e-4
    init: str = 'kaiming'
    base_size: int = 520
    crop_size: int = 480

    def validate(self):
        """Raise ``ValueError`` naming the first inconsistent value."""
        if self.epochs <= 0 or self.batch_size <= 0 or self.lr <= 0:
            raise ValueError('epochs (%d), batch size (%d) and lr (%g) must be positive'
                             % (self.epochs, self.batch_size, self.lr))
        if self.lr_mode not in ('poly', 'constant', 'cosine'):
            raise ValueError("lr_mode must be 'poly', 'constant' or 'cosine', got %r"
                             % (self.lr_mode,))
        if self.init not in INITIALIZERS:
            raise ValueError('init must be one of %s, got %r' % (sorted(INITIALIZERS), self.init))
        if self.crop_size <= 0 or self.base_size <= 0:
            raise ValueError('base_size (%d) and crop_size (%d) must be positive'
                             % (self.base_size, self.crop_size))
        return self


class SegmentationScores(mx.metric.EvalMetric):
    """GluonCV's :class:`SegmentationMetric` as an ``EvalMetric`` with named outputs.

    ``get()`` returns ``(['pixacc', 'miou'], [pixel accuracy, mean IoU])``; labels ``-1`` are
    ignored. ``iou()`` gives the per-class IoU (index 1 = stop sign for StopSign).
    """

    def __init__(self, nclass, name='segmentation'):
        self.scores = SegmentationMetric(nclass)
        super(SegmentationScores, self).__init__(name)

    def update(self, labels, preds):
        self.scores.update(labels, preds)

    def reset(self):
        if hasattr(self, 'scores'):
            self.scores.reset()

    def get(self):
        pixacc, miou = self.scores.get()
        return ['pixacc', 'miou'], [float(pixacc), float(miou)]

    def iou(self):
        """Per-class IoU as a numpy array."""
        s = self.scores
        return np.asarray(1.0 * s.total_inter / (np.spacing(1) + s.total_union), dtype=float)


def evaluate_segmentation(net, data, nclass, ctx=None):
    """``{'pixacc', 'miou', 'iou'}`` of ``net`` on ``data`` (batches of ``(image, mask)``)."""
    ctx = as_context_list(ctx)
    metric = SegmentationScores(nclass)
    for batch in data:
        inputs, labels = split_batch(batch, ctx, False)
        metric.update(labels, [net(x) for x in inputs])
    _, (pixacc, miou) = metric.get()
    return {'pixacc': pixacc, 'miou': miou, 'iou': metric.iou().tolist()}


def segmentation_validator(val_data, nclass, prefix='val_'):
    """A ``val_fn`` for :func:`fit`: ``{prefix+'pixacc', prefix+'miou'}`` (mIoU = the paper's
    reported metric)."""
    def val_fn(net, ctx):
        scores = evaluate_segmentation(net, val_data, nclass, ctx)
        return {prefix + 'pixacc': scores['pixacc'], prefix + 'miou': scores['miou']}
    return val_fn


def image_transform():
    """``ToTensor`` + ImageNet ``Normalize`` applied after the joint transforms."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def build_poly_scheduler(recipe, iters_per_epoch):
    """GluonCV schedule of ``recipe`` over ``epochs * iters_per_epoch`` updates
    (:func:`gluon_aff.training.schedule.build_lr_schedule`, no warm-up)."""
    return build_lr_schedule(recipe.lr, recipe.epochs, iters_per_epoch, recipe.lr_mode,
                             power=recipe.power)


def train_segmentation(net, train_set, val_set, recipe, save_dir, ctx=None, seed=0,
                       resume=False, num_workers=0, checkpoint_info=None, hybridize=True,
                       logger=None, progress=True, callbacks=(), model=None):
    """Train a segmentation ``net`` with ``recipe`` through :func:`fit`; return its result dict.

    ``train_set``/``val_set`` yield ``(HWC uint8 image, int32 mask)`` (e.g.
    :class:`~gluon_aff.data.stopsign.StopSignSegmentation` in ``'train'``/``'val'`` mode); the
    image transform is :func:`image_transform` where the data set has none (set on the data set,
    as GluonCV's segmentation data sets hold it). ``recipe.batch_size`` is the total over ``ctx``.
    The best checkpoint follows ``val_miou``. ``save_dir`` is a folder or an open
    :class:`~gluon_aff.training.Run`; ``model`` the network's record saved in every checkpoint
    (:func:`~gluon_aff.training.run.model_record`).
    """
    ctx = as_context_list(ctx)
    recipe.validate()
    if resume:
        require_checkpoint(str(getattr(save_dir, 'dir', save_dir)))  # before the data pipeline
    check_batch_size(recipe.batch_size, len(ctx))
    nclass = getattr(train_set, 'num_class', None) or 2
    seed_everything(seed)
    for data_set in (train_set, val_set):  # GluonCV data sets hold their image transform
        if getattr(data_set, 'transform', None) is None:
            data_set.transform = image_transform()
    train_data = gluon.data.DataLoader(train_set, batch_size=recipe.batch_size, shuffle=True,
                                       last_batch='discard', num_workers=num_workers)
    val_data = gluon.data.DataLoader(val_set, batch_size=recipe.batch_size, shuffle=False,
                                     num_workers=num_workers)
    if len(train_data) == 0:
        raise ValueError('the training set (%d images) is smaller than one batch (%d)'
                         % (len(train_set), recipe.batch_size))
    net.initialize(INITIALIZERS[recipe.init](), ctx=ctx, force_reinit=True)
    if hybridize:
        net.hybridize()
    params = {'wd': recipe.wd, 'lr_scheduler': build_poly_scheduler(recipe, len(train_data))}
    if recipe.optimizer in ('sgd', 'nag'):
        params['momentum'] = 0.9
    trainer = gluon.Trainer(net.collect_params(), recipe.optimizer, params)
    info = dict(checkpoint_info or {}, recipe=asdict(recipe), classes=int(nclass),
                devices=len(ctx))
    with open_run(save_dir, resume=resume) as run:
        logger = logger or run.logger
        logger.info('sizes: %d training / %d validation images, %d classes', len(train_set),
                    len(val_set), nclass)
        logger.info('devices: %s; batch %d, %d iterations per epoch',
                    ', '.join(str(c) for c in ctx), recipe.batch_size, len(train_data))
        logger.info('recipe: %s', asdict(recipe))
        return fit(net, trainer, train_data, recipe.epochs, run.dir, ctx=ctx,
                   loss_fn=SoftmaxCrossEntropyLoss(ignore_label=-1),
                   val_fn=segmentation_validator(val_data, nclass),
                   train_metric=SegmentationScores(nclass), resume=resume, seed=seed,
                   best_key='val_miou', best_mode='max', checkpoint_info=info, logger=logger,
                   progress=progress, callbacks=callbacks, model=model)


def plot_curves(save_dir, filename='curves.png'):
    """Loss, pixel accuracy and mIoU of ``save_dir/metrics.jsonl`` as ``save_dir/filename``."""
    return curves.plot_curves([save_dir], os.path.join(save_dir, filename),
                              panels=curves.SEGMENTATION_PANELS)


def overlay(image, prediction, color=(255, 0, 0), alpha=0.5):
    """Blend ``color`` over the pixels of ``image`` (HWC uint8) where ``prediction`` is 1."""
    image = np.asarray(image, dtype=np.float32)
    pred = np.asarray(prediction) == 1
    out = image.copy()
    out[pred] = (1 - alpha) * image[pred] + alpha * np.asarray(color, np.float32)
    return out.round().clip(0, 255).astype(np.uint8)
