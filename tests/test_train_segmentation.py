"""Segmentation metrics against hand-computed confusion matrices; the evaluation protocols;
gradient accumulation against one big batch; a 1-epoch StopSign run of a tiny FPN on the
generated COCO set, resume, curves, evaluation and overlay scripts."""
import json
import os

import numpy as np
import mxnet as mx
import pytest

from command_helpers import fails_with
from gluon_aff import get_model
from gluon_aff.data.stopsign import StopSignSegmentation, build_stopsign
from gluon_aff.training import read_metrics
from gluon_aff.commands import eval_segmentation, predict_segmentation
from gluon_aff.training import load_run, model_record
from gluon_aff.training.segmentation import (EVAL_MODES, SegmentationRecipe, SegmentationScores,
                                             eval_mode, evaluate_segmentation, image_transform,
                                             overlay, plot_curves, train_segmentation)
from test_stopsign import make_tiny_coco


def logits(pred):
    """One-hot logits (N, 2, H, W) whose argmax is ``pred``."""
    pred = np.asarray(pred)
    return mx.nd.array(np.stack([pred == 0, pred == 1], axis=1).astype(np.float32))


def test_scores_match_hand_confusion_matrix():
    """``miou`` = the stop-sign IoU (the drafts' SigmoidMetric "mIoU"), ``mean_iou`` = the
    two-class mean (GluonCV), ``pixacc`` over labelled pixels, ``fg_recall`` = the drafts'
    ``pixAcc`` (correct foreground / foreground)."""
    metric = SegmentationScores(2)
    # batch 1: label -1 is ignored (its prediction 1 must not count)
    metric.update(mx.nd.array([[[0, 1, 1], [-1, 0, 1]]]), logits([[[0, 1, 0], [1, 1, 1]]]))
    # confusion (rows gt, cols pred): [[1, 1], [1, 2]] -> pixacc 3/5, IoU 1/3 and 2/4
    names, values = metric.get()
    assert names == ['pixacc', 'miou', 'mean_iou', 'fg_recall']
    np.testing.assert_allclose(values, [3 / 5, 2 / 4, (1 / 3 + 2 / 4) / 2, 2 / 3])
    # batch 2 accumulates: gt [[1, 1]], pred [[1, 0]] -> confusion [[1, 1], [2, 3]]
    metric.update(mx.nd.array([[[1, 1]]]), logits([[[1, 0]]]))
    np.testing.assert_allclose(metric.get()[1], [4 / 7, 3 / 6, (1 / 4 + 3 / 6) / 2, 3 / 5])
    np.testing.assert_allclose(metric.iou(), [1 / 4, 3 / 6])
    metric.reset()
    metric.update(mx.nd.array([[[1, 0]]]), logits([[[1, 0]]]))
    np.testing.assert_allclose(metric.get()[1], [1.0, 1.0, 1.0, 1.0])


def test_scores_pool_pixels_over_images():
    """IoU of the summed confusion matrix, not the mean of per-image IoUs: an image whose one
    stop-sign pixel is missed weighs by its pixels (by hand: 10 hits, 12 + 1 truths, 12
    predicted -> IoU 10 / 15; the mean of per-image IoUs would be (10/14 + 0) / 2)."""
    metric = SegmentationScores(2)
    big = np.zeros((1, 4, 6), int)
    big[0, :, :3] = 1                           # 12 truth pixels, the first 10 predicted + 2 more
    pred_big = np.zeros((1, 4, 6), int)
    pred_big[0].flat[[0, 1, 2, 6, 7, 8, 12, 13, 14, 18]] = 1
    pred_big[0, 0, 3] = pred_big[0, 1, 3] = 1   # 2 false positives
    metric.update(mx.nd.array(big), logits(pred_big))
    small = np.zeros((1, 2, 2), int)
    small[0, 0, 0] = 1                          # 1 truth pixel, missed
    metric.update(mx.nd.array(small), logits(np.zeros((1, 2, 2), int)))
    # truth 13, predicted 12, hit 10 -> IoU 10 / 15; background: 15 truth, 13 hits + 2 fp + 3 fn
    assert metric.confusion.tolist() == [[13, 2], [3, 10]]
    np.testing.assert_allclose(metric.scores()['miou'], 10 / 15)
    np.testing.assert_allclose(metric.scores()['mean_iou'], (13 / 18 + 10 / 15) / 2)
    with pytest.raises(ValueError, match='do not cover the same pixels'):
        metric.update(mx.nd.array(small), logits(np.zeros((1, 2, 3), int)))


class _Pointwise(mx.gluon.HybridBlock):
    """A 1x1 convolution: the same per-pixel logits whatever the window or padding."""

    def __init__(self, **kwargs):
        super(_Pointwise, self).__init__(**kwargs)
        with self.name_scope():
            self.conv = mx.gluon.nn.Conv2D(2, 1, in_channels=3)

    def hybrid_forward(self, F, x):
        return self.conv(x)


def test_sliding_and_full_agree_for_a_pointwise_net(tmp_path):
    """Sliding windows (GluonCV MultiEvalModel: windows of 12 at stride 8, two per axis, over the
    20 x 20 val image whose long side is already base_size) score the same pixels as the full
    image for a per-pixel network."""
    coco = str(tmp_path / 'coco')
    make_tiny_coco(coco)
    data = str(tmp_path / 'stopsign')
    build_stopsign(coco, data, min_foreground=0)
    net = _Pointwise()
    net.initialize(mx.init.Xavier(), force_reinit=True)
    net.conv.bias.set_data(mx.nd.array([0.0, -0.1]))
    scores = {}
    for mode in ('full', 'sliding', 'crop'):
        data_set = StopSignSegmentation(data, 'val', mode=EVAL_MODES[mode], base_size=20,
                                        crop_size=12, transform=image_transform())
        scores[mode] = evaluate_segmentation(net, mx.gluon.data.DataLoader(data_set, 1), 2,
                                             mode=mode, base_size=20, crop_size=12)
        assert scores[mode]['mode'] == mode and scores[mode]['paper_metric'].startswith('miou')
    for key in ('pixacc', 'miou', 'mean_iou', 'fg_recall'):
        np.testing.assert_allclose(scores['sliding'][key], scores['full'][key], rtol=1e-6)
    assert eval_mode('testval') == 'full' and eval_mode('val') == 'crop'
    with pytest.raises(ValueError, match='evaluation mode must be one of crop, full, sliding'):
        eval_mode('whole')


def test_overlay_blends_only_predicted_pixels():
    image = np.full((2, 2, 3), 100, np.uint8)
    out = overlay(image, np.array([[1, 0], [0, 1]]), color=(200, 0, 0), alpha=0.5)
    assert out[0, 0].tolist() == [150, 50, 50] and out[0, 1].tolist() == [100, 100, 100]


def test_one_epoch_run_resume_and_scripts(tmp_path, capsys):
    coco = str(tmp_path / 'coco')
    make_tiny_coco(coco)
    data = str(tmp_path / 'stopsign')
    build_stopsign(coco, data, min_foreground=0)
    sizes = dict(base_size=16, crop_size=16)
    train_set = StopSignSegmentation(data, 'train', **sizes)
    val_set = StopSignSegmentation(data, 'val', **sizes)
    recipe = SegmentationRecipe(epochs=1, batch_size=2, **sizes)
    run = str(tmp_path / 'run')

    kwargs = {'channels': [8, 8, 16, 32]}
    record = model_record('fpn_aff_resnet_b1', kwargs)

    def tiny_net():
        return get_model('fpn_aff_resnet_b1', **kwargs)
    result = train_segmentation(tiny_net(), train_set, val_set, recipe, run, progress=False,
                                model=record)
    rows = read_metrics(run)
    assert [r['epoch'] for r in rows] == [0]
    for key in ('train_loss', 'train_pixacc', 'train_miou', 'val_pixacc', 'val_miou',
                'val_mean_iou', 'val_fg_recall', 'lr'):
        assert np.isfinite(rows[0][key]), key
    assert 0 <= rows[0]['val_miou'] <= 1 and result['best'] == rows[0]['val_miou']
    for name in ('last', 'best'):
        assert os.path.isfile(os.path.join(run, name + '.json'))
    assert os.path.getsize(plot_curves(run)) > 0
    # resume to two epochs: one more row, same first row
    recipe.epochs = 2
    train_segmentation(tiny_net(), train_set, val_set, recipe, run, resume=True, progress=False,
                       model=record)
    rows2 = read_metrics(run)
    assert [r['epoch'] for r in rows2] == [0, 1] and rows2[0] == rows[0]
    # the checkpoint rebuilds its network; eval and predict scripts run on it
    net, state = load_run(os.path.join(run, 'last'))
    assert state['epoch'] == 1 and state['model'] == record
    assert net(mx.nd.zeros((1, 3, 8, 8))).shape == (1, 2, 8, 8)
    assert eval_segmentation.main(['--data-dir', data, '--run', os.path.join(run, 'best'),
                                   '--mode', 'testval']) == 0
    out = str(tmp_path / 'overlays')
    assert predict_segmentation.main(['--run', run, '--images',
                                      os.path.join(data, 'val', 'images'), '--out', out]) == 0
    assert os.listdir(out) == ['000000000010.png']
    bogus = tmp_path / 'bogus.png'                          # an image name, not an image
    bogus.write_text('not an image')
    line = fails_with(predict_segmentation.main, ['--run', run, '--images', str(bogus), '--out',
                                                  str(tmp_path / 'none')], str(bogus), capsys)
    assert 'not an image' in line and not os.path.exists(tmp_path / 'none')
    with open(os.path.join(run, 'last.json')) as f:
        assert json.load(f)['info']['recipe']['optimizer'] == 'adagrad'


def test_command_run_folder_and_model_check(tmp_path, capsys):
    from gluon_aff.commands import train_segmentation as command
    coco = str(tmp_path / 'coco')
    make_tiny_coco(coco)
    data = str(tmp_path / 'stopsign')
    build_stopsign(coco, data, min_foreground=0)
    run = str(tmp_path / 'run')
    argv = ['--data-dir', data, '--base-size', '16', '--crop-size', '16', '--batch-size', '2',
            '-j', '0', '--no-progress', '--epochs', '1', '--save-dir', run]
    assert command.main(argv) == 0
    with open(os.path.join(run, 'last.json')) as f:
        model = json.load(f)['model']
    assert model['name'] == 'fpn_aff_resnet_b1' and model['card']['task'] == 'segmentation'
    assert model['kwargs'] == {'classes': 2, 'form': 'original'}
    fails_with(command.main, argv, 'already holds a run', capsys)
    assert command.main(argv[:-4] + ['--epochs', '2', '--resume', run]) == 0
    assert [r['epoch'] for r in read_metrics(run)] == [0, 1]
    log = open(os.path.join(run, 'train.log')).read()
    assert 'data: StopSign images and masks from %s' % data in log
    assert 'labels: background, stop sign' in log
    fails_with(command.main, argv[:-1] + [str(tmp_path / 'r2'), '--model', 'aff_resnet50'],
               'aff_resnet50 is a classification model for imagenet', capsys)
    assert not os.path.exists(tmp_path / 'r2')


# ---- gradient accumulation --------------------------------------------------------------------

def _tiny_net(batch_norm=False, seed=0):
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Conv2D(4, 3, padding=1, in_channels=3))
    if batch_norm:
        net.add(mx.gluon.nn.BatchNorm(in_channels=4))
    net.add(mx.gluon.nn.Activation('relu'), mx.gluon.nn.Conv2D(2, 1, in_channels=4))
    mx.random.seed(seed)
    net.initialize(mx.init.Xavier())
    return net


def _batch(n=4, size=6, seed=1):
    rs = np.random.RandomState(seed)
    x = rs.normal(0, 1, (n, 3, size, size)).astype(np.float32)
    y = (rs.uniform(size=(n, size, size)) > 0.6).astype(np.float32)
    y[0, :, :4] = -1                      # unequal labelled pixels per micro-batch
    y[3, :2] = -1
    return mx.nd.array(x), mx.nd.array(y)


def _grads(net, forward_backward=None):
    from gluoncv.loss import SoftmaxCrossEntropyLoss
    loss_fn = SoftmaxCrossEntropyLoss(ignore_label=-1)
    x, y = _batch()
    if forward_backward is None:
        with mx.autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        outputs, losses = [net(x)], [loss]
    else:
        outputs, losses = forward_backward(net, [x], [y], loss_fn)
    grads = {k: p.grad().asnumpy().copy() for k, p in net._collect_params_with_prefix().items()
             if p.grad_req != 'null'}
    return grads, outputs[0].asnumpy(), losses[0].asnumpy()


@pytest.mark.parametrize('accumulate', [2, 4])
def test_accumulation_equals_one_big_batch(accumulate):
    """The micro-batch gradients, weighted by their labelled pixels, sum to the big batch's
    gradient (GluonCV's loss normalises by the labelled pixels of each call)."""
    from gluon_aff.training.segmentation import accumulating_forward_backward
    want, want_out, want_loss = _grads(_tiny_net())
    got, got_out, got_loss = _grads(_tiny_net(), accumulating_forward_backward(accumulate))
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-6)
    with pytest.raises(ValueError, match='does not split into 3 micro-batches'):
        accumulating_forward_backward(3)(_tiny_net(), [_batch()[0]], [_batch()[1]], None)
    with pytest.raises(ValueError, match='batch size 30 does not split into 4 micro-batches'):
        SegmentationRecipe(batch_size=30, accumulate=4).validate()


def test_accumulation_batchnorm_caveat():
    """With BatchNorm in training mode each micro-batch is normalised by its own statistics:
    the gradient differs from the big batch's (docs/segmentation.md states it)."""
    from gluon_aff.training.segmentation import accumulating_forward_backward
    want = _grads(_tiny_net(batch_norm=True))[0]
    got = _grads(_tiny_net(batch_norm=True), accumulating_forward_backward(2))[0]
    gap = max(np.abs(got[k] - want[k]).max() / np.abs(want[k]).max() for k in want)
    assert gap > 1e-3


def test_fit_with_accumulation_trains_the_same_weights(tmp_path):
    """Two epochs of the shared engine with ``forward_backward`` (2 micro-batches) and without:
    the same weights (a BN-free net), i.e. ``trainer.step(batch)`` sees the same gradient."""
    from gluoncv.loss import SoftmaxCrossEntropyLoss
    from gluon_aff.training.engine import fit
    from gluon_aff.training.segmentation import accumulating_forward_backward
    x, y = _batch(n=8, seed=2)
    weights = []
    for forward_backward in (None, accumulating_forward_backward(2)):
        net = _tiny_net()
        trainer = mx.gluon.Trainer(net.collect_params(), 'adagrad', {'learning_rate': 0.1})
        data = mx.gluon.data.DataLoader(mx.gluon.data.ArrayDataset(x, y), batch_size=4)
        fit(net, trainer, data, 2, str(tmp_path / str(len(weights))), progress=False,
            loss_fn=SoftmaxCrossEntropyLoss(ignore_label=-1),
            train_metric=SegmentationScores(2), best_key='train_loss', best_mode='min',
            forward_backward=forward_backward)
        weights.append({k: p.data().asnumpy()
                        for k, p in net._collect_params_with_prefix().items()})
    for key in weights[0]:
        np.testing.assert_allclose(weights[1][key], weights[0][key], rtol=1e-5, atol=1e-6)
