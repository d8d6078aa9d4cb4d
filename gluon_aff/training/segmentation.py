"""StopSign segmentation recipe (paper Table 2 + appendix), run through :func:`~.engine.fit`.

Table 2: ResNet-20-b + FPN, AdaGrad, lr 0.01, poly schedule, 300 epochs, batch 32, Kaiming
init; appendix: cross-entropy loss, mIoU as the evaluation metric. The authors' sibling code
(open-acm ``train_dentist.py``, ``metric/sigmoid.py``) validates on whole images
(``mode='testval'``) and calls the *foreground* IoU "mIoU" (``SigmoidMetric``): the defaults
here. What neither states comes from GluonCV's segmentation recipe, the code base the authors
built on: poly power 0.9, weight decay 1e-4, ``SoftmaxCrossEntropyLoss`` with ignore label -1,
joint augmentation with ``base_size=520`` / ``crop_size=480`` and ImageNet mean/std
normalisation. ``docs/segmentation.md`` lists them.

The epoch loop, checkpoints, resume, metrics file and NaN guard are the shared engine's, the
recipe (preset ``paper`` of task ``segmentation``), its schedule, initialiser and no-wd rule the
recipe layer's (:mod:`gluon_aff.training.recipe`); this module supplies the metric adapter
(:class:`SegmentationScores`), the evaluation protocols (:data:`EVAL_MODES`), gradient
accumulation (:func:`accumulating_forward_backward`), the validator and the plotting/overlay
helpers of the scripts.
"""
import os

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon.data.vision import transforms
from gluoncv.loss import SoftmaxCrossEntropyLoss
from gluoncv.model_zoo.segbase import MultiEvalModel

from .checkpoint import require_checkpoint, seed_everything
from . import curves
from .engine import as_context_list, fit, split_batch
from .recipe import BatchLogger, apply_no_wd, get_recipe, make_initializer
from .run import open_run

__all__ = ['SegmentationRecipe', 'SegmentationScores', 'segmentation_validator',
           'evaluate_segmentation', 'image_transform', 'train_segmentation', 'plot_curves',
           'overlay', 'accumulating_forward_backward', 'eval_mode', 'MEAN', 'STD',
           'EVAL_MODES', 'PAPER_METRIC']

#: ImageNet statistics, GluonCV's segmentation normalisation
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

#: evaluation protocol -> the GluonCV data-set mode it reads images in:
#: ``full`` = whole images at full resolution, one at a time (the drafts' validation, open-acm
#: ``train_dentist.py``: ``mode='testval'``); ``sliding`` = whole images through GluonCV's
#: ``MultiEvalModel`` (long side resized to ``base_size``, ``crop_size`` windows at stride 2/3,
#: scores resized back; one scale, no flip); ``crop`` = the short side resized to ``crop_size``
#: and centre-cropped (GluonCV's validation during training)
EVAL_MODES = {'full': 'testval', 'sliding': 'testval', 'crop': 'val'}
#: GluonCV's names of two protocols, accepted as aliases
_EVAL_ALIASES = {'testval': 'full', 'val': 'crop'}

#: the score compared with the paper's "mIoU" (appendix) and what it is
PAPER_METRIC = ('miou', 'foreground (stop-sign) IoU over every pixel of the split, as the '
                "drafts' SigmoidMetric calls 'mIoU'; mean_iou is the two-class mean (GluonCV)")


def eval_mode(name):
    """The protocol of :data:`EVAL_MODES` named ``name`` (``val``/``testval`` as aliases)."""
    mode = _EVAL_ALIASES.get(name, name)
    if mode not in EVAL_MODES:
        raise ValueError('evaluation mode must be one of %s, got %r'
                         % (', '.join(sorted(EVAL_MODES)), name))
    return mode


def SegmentationRecipe(**values):
    """The segmentation preset (``get_recipe('paper', 'segmentation', **values)``): Table 2 +
    GluonCV's unstated values, as a :class:`~gluon_aff.training.recipe.Recipe`."""
    return get_recipe('paper', 'segmentation', **values)


class SegmentationScores(mx.metric.EvalMetric):
    """Segmentation scores of a confusion matrix accumulated over every pixel seen.

    ``update(labels, preds)`` takes lists of ``(N, H, W)`` labels (``-1`` or any value outside
    ``[0, nclass)`` is ignored) and ``(N, nclass, H, W)`` scores (the arg-max is the prediction).
    Pixels are summed over all images before any ratio is taken, as GluonCV's
    ``SegmentationMetric`` and the drafts' ``SigmoidMetric`` do. ``get()`` returns the names
    ``['pixacc', 'miou', 'mean_iou', 'fg_recall']``:

    * ``pixacc``: correct / labelled pixels (GluonCV's pixel accuracy);
    * ``miou``: IoU of class ``foreground`` (1: the stop sign), what the drafts' code calls
      "mIoU" for a one-foreground-class task (open-acm ``metric/sigmoid.py``) - the default
      score and the one compared with the paper (:data:`PAPER_METRIC`);
    * ``mean_iou``: IoU averaged over all classes, background included (GluonCV's mIoU);
    * ``fg_recall``: correct foreground / foreground pixels (what ``SigmoidMetric`` names
      ``pixAcc``: it counts only pixels whose label is > 0).
    """

    NAMES = ('pixacc', 'miou', 'mean_iou', 'fg_recall')

    def __init__(self, nclass, foreground=1, name='segmentation'):
        if not 0 <= foreground < nclass:
            raise ValueError('foreground class %r outside [0, %d)' % (foreground, nclass))
        self.nclass, self.foreground = int(nclass), int(foreground)
        super(SegmentationScores, self).__init__(name)

    def update(self, labels, preds):
        if isinstance(labels, mx.nd.NDArray):
            labels, preds = [labels], [preds]
        for label, pred in zip(labels, preds):
            truth = label.asnumpy().astype(np.int64).ravel()
            guess = mx.nd.argmax(pred, axis=1).asnumpy().astype(np.int64).ravel()
            if truth.size != guess.size:
                raise ValueError('labels %s and predictions %s do not cover the same pixels'
                                 % (label.shape, pred.shape))
            valid = (truth >= 0) & (truth < self.nclass)
            self.confusion += np.bincount(self.nclass * truth[valid] + guess[valid],
                                          minlength=self.nclass ** 2).reshape(
                                              self.nclass, self.nclass)

    def reset(self):
        self.confusion = np.zeros((self.nclass, self.nclass), np.int64)

    def iou(self):
        """Per-class IoU (rows of the confusion matrix: ground truth, columns: prediction)."""
        c = self.confusion
        inter = np.diag(c).astype(float)
        return inter / (np.spacing(1) + c.sum(0) + c.sum(1) - inter)

    def scores(self):
        """``{name: value}`` of :attr:`NAMES`."""
        c, fg = self.confusion, self.foreground
        iou = self.iou()
        return {'pixacc': float(np.trace(c) / (np.spacing(1) + c.sum())),
                'miou': float(iou[fg]), 'mean_iou': float(iou.mean()),
                'fg_recall': float(c[fg, fg] / (np.spacing(1) + c[fg].sum()))}

    def get(self):
        scores = self.scores()
        return list(self.NAMES), [scores[n] for n in self.NAMES]


class _SlidingWindow(object):
    """What GluonCV's ``MultiEvalModel`` asks of a segmentation model."""

    def __init__(self, net, base_size, crop_size):
        self.net, self.base_size, self.crop_size = net, base_size, crop_size

    def evaluate(self, x):
        return self.net(x)

    def collect_params(self):
        return self.net.collect_params()


def evaluate_segmentation(net, data, nclass, ctx=None, mode='full', base_size=520,
                          crop_size=480):
    """Scores of ``net`` on ``data`` (batches of ``(image, mask)``) under protocol ``mode``.

    ``data`` must yield images the way :data:`EVAL_MODES` reads them (``full``/``sliding``:
    whole images, batches of one; ``crop``: centre crops). Returns ``{'pixacc', 'miou',
    'mean_iou', 'fg_recall', 'iou', 'mode', 'paper_metric'}`` (:class:`SegmentationScores`).
    """
    ctx = as_context_list(ctx)
    mode = eval_mode(mode)
    metric = SegmentationScores(nclass)
    window = MultiEvalModel(_SlidingWindow(net, base_size, crop_size), nclass, ctx, flip=False,
                            scales=[1.0]) if mode == 'sliding' else None
    for batch in data:
        inputs, labels = split_batch(batch, ctx, False)
        if window is None:
            preds = [net(x) for x in inputs]
        else:
            preds = [mx.nd.concat(*[window(image) for image in x], dim=0) for x in inputs]
        metric.update(labels, preds)
    return dict(metric.scores(), iou=metric.iou().tolist(), mode=mode,
                paper_metric='%s (%s)' % PAPER_METRIC)


def segmentation_validator(val_data, nclass, prefix='val_', mode='full', base_size=520,
                           crop_size=480):
    """A ``val_fn`` for :func:`fit`: ``{prefix + name}`` for the names of
    :class:`SegmentationScores` (``val_miou``: the foreground IoU, compared with the paper)."""
    def val_fn(net, ctx):
        scores = evaluate_segmentation(net, val_data, nclass, ctx, mode, base_size, crop_size)
        return {prefix + name: scores[name] for name in SegmentationScores.NAMES}
    return val_fn


def accumulating_forward_backward(accumulate, ignore_label=-1):
    """A ``forward_backward`` for :func:`fit` that splits each device's batch in ``accumulate``
    micro-batches: one forward/backward each, so only a micro-batch's activations are alive.

    The gradient left on every device is that of the whole device batch: GluonCV's
    ``SoftmaxCrossEntropyLoss`` (``SoftmaxOutput`` with ``normalization='valid'``) divides each
    call's gradient by the labelled pixels of *that call*, so micro-batch ``k`` is weighted by
    ``valid_k / valid_total`` before the sum (``trainer.step(batch)`` then divides by the batch as
    without accumulation). Equal to one big batch within float rounding for layers that treat
    samples independently; BatchNorm normalises each micro-batch with its own statistics and
    updates its running averages once per micro-batch, and Dropout draws its masks per call, so
    those differ (docs/segmentation.md).
    """
    if not isinstance(accumulate, int) or accumulate < 1:
        raise ValueError('accumulate must be an integer >= 1, got %r' % (accumulate,))

    trained = {}  # net -> its parameters with gradients, collected once

    def forward_backward(net, data, targets, loss_fn):
        if net not in trained:
            trained[net] = [p for p in net.collect_params().values() if p.grad_req != 'null']
        params = trained[net]
        outputs, losses = [], []
        for x, y in zip(data, targets):
            if x.shape[0] % accumulate:
                raise ValueError('a device batch of %d images does not split into %d '
                                 'micro-batches (--accumulate must divide the batch per device)'
                                 % (x.shape[0], accumulate))
            step = x.shape[0] // accumulate
            # labelled pixels per micro-batch in one read (integers: exact in float32)
            counts = (y != ignore_label).reshape((accumulate, -1)).sum(axis=1).asnumpy()
            total = float(counts.sum())
            sums, outs, losses_x = None, [], []
            for k in range(accumulate):
                xk, yk = x[k * step:(k + 1) * step], y[k * step:(k + 1) * step]
                with autograd.record():
                    out = net(xk)
                    loss = loss_fn(out, yk)
                loss.backward()
                weight = float(counts[k]) / max(total, 1.0)
                grads = [p.grad(x.context) for p in params]
                if sums is None:
                    sums = [g * weight for g in grads]
                else:
                    for acc, g in zip(sums, grads):
                        acc += g * weight
                outs.append(out.detach())
                losses_x.append(loss.detach())
            for acc, p in zip(sums, params):
                p.grad(x.context)[:] = acc
            outputs.append(mx.nd.concat(*outs, dim=0))
            losses.append(mx.nd.concat(*losses_x, dim=0))
        return outputs, losses
    return forward_backward


def image_transform():
    """``ToTensor`` + ImageNet ``Normalize`` applied after the joint transforms."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def train_segmentation(net, train_set, val_set, recipe, save_dir, ctx=None, seed=0,
                       resume=False, num_workers=0, checkpoint_info=None, hybridize=True,
                       logger=None, progress=True, callbacks=(), model=None):
    """Train a segmentation ``net`` with ``recipe`` through :func:`fit`; return its result dict.

    ``recipe`` is a :class:`~gluon_aff.training.recipe.Recipe` (task ``segmentation``).
    ``train_set``/``val_set`` yield ``(HWC uint8 image, int32 mask)`` (e.g.
    :class:`~gluon_aff.data.stopsign.StopSignSegmentation`); the image transform is
    :func:`image_transform` where the data set has none, and the validation set is read in the
    mode of ``recipe.val_mode`` (:data:`EVAL_MODES`; both set on the data set, as GluonCV's
    segmentation data sets hold them). ``recipe.batch_size`` is the total over ``ctx``, split in
    ``recipe.accumulate`` micro-batches per device. The best checkpoint follows ``val_miou`` (the
    foreground IoU). ``save_dir`` is a folder or an open
    :class:`~gluon_aff.training.Run`; ``model`` the network's record saved in every checkpoint
    (:func:`~gluon_aff.training.run.model_record`).
    """
    ctx = as_context_list(ctx)
    recipe.validate()
    if resume:
        require_checkpoint(str(getattr(save_dir, 'dir', save_dir)))  # before the data pipeline
    batch = recipe.total_batch(len(ctx))
    if batch // len(ctx) % recipe.accumulate:
        raise ValueError('the batch per device (%d) does not split into %d micro-batches '
                         '(accumulate): use a batch size that is a multiple of %d'
                         % (batch // len(ctx), recipe.accumulate,
                            len(ctx) * recipe.accumulate))
    val_mode = eval_mode(recipe.val_mode)
    nclass = getattr(train_set, 'num_class', None) or 2
    seed_everything(seed)
    for data_set in (train_set, val_set):  # GluonCV data sets hold their image transform
        if getattr(data_set, 'transform', None) is None:
            data_set.transform = image_transform()
    val_set.mode = EVAL_MODES[val_mode]
    train_data = gluon.data.DataLoader(train_set, batch_size=batch, shuffle=True,
                                       last_batch='discard', num_workers=num_workers)
    val_data = gluon.data.DataLoader(   # whole images differ in size: one at a time
        val_set, batch_size=batch if val_mode == 'crop' else 1,
        shuffle=False, num_workers=num_workers)
    if len(train_data) == 0:
        raise ValueError('the training set (%d images) is smaller than one batch (%d)'
                         % (len(train_set), batch))
    net.initialize(make_initializer(recipe.init), ctx=ctx, force_reinit=True)
    if hybridize:
        net.hybridize()
    if recipe.no_wd:
        apply_no_wd(net)
    trainer = gluon.Trainer(net.collect_params(), recipe.optimizer, recipe.optimizer_params(
        recipe.lr_schedule(len(train_data), batch)))
    info = dict(checkpoint_info or {}, recipe=recipe.as_dict(), classes=int(nclass),
                devices=len(ctx))
    with open_run(save_dir, resume=resume) as run:
        logger = logger or run.logger
        logger.info('sizes: %d training / %d validation images, %d classes', len(train_set),
                    len(val_set), nclass)
        logger.info('devices: %s; batch %d (%d micro-batches of %d per device), %d iterations '
                    'per epoch', ', '.join(str(c) for c in ctx), batch,
                    recipe.accumulate, batch // len(ctx) // recipe.accumulate,
                    len(train_data))
        logger.info('recipe: %s', recipe.as_dict())
        logger.info('validation: %s images; val_miou = %s', val_mode, PAPER_METRIC[1])
        return fit(net, trainer, train_data, recipe.epochs, run.dir, ctx=ctx,
                   loss_fn=SoftmaxCrossEntropyLoss(ignore_label=-1),
                   val_fn=segmentation_validator(val_data, nclass, mode=val_mode,
                                                 base_size=recipe.base_size,
                                                 crop_size=recipe.crop_size),
                   train_metric=SegmentationScores(nclass), resume=resume, seed=seed,
                   best_key='val_miou', best_mode='max', checkpoint_info=info, logger=logger,
                   progress=progress, callbacks=callbacks, model=model,
                   batch_callbacks=[BatchLogger(recipe.log_interval, logger)]
                   if recipe.log_interval else [],
                   forward_backward=None if recipe.accumulate == 1 else
                   accumulating_forward_backward(recipe.accumulate))


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
