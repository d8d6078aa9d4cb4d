"""Segmentation metrics against hand-computed confusion matrices; a 1-epoch StopSign run of a
tiny FPN on the generated COCO set, resume, curves, evaluation and overlay scripts."""
import json
import os

import numpy as np
import mxnet as mx

from command_helpers import fails_with
from gluon_aff import get_model
from gluon_aff.data.stopsign import StopSignSegmentation, build_stopsign
from gluon_aff.training import read_metrics
from gluon_aff.commands import eval_segmentation, predict_segmentation
from gluon_aff.training import load_run, model_record
from gluon_aff.training.segmentation import (SegmentationRecipe, SegmentationScores, overlay,
                                             plot_curves, train_segmentation)
from test_stopsign import make_tiny_coco


def logits(pred):
    """One-hot logits (N, 2, H, W) whose argmax is ``pred``."""
    pred = np.asarray(pred)
    return mx.nd.array(np.stack([pred == 0, pred == 1], axis=1).astype(np.float32))


def test_scores_match_hand_confusion_matrix():
    metric = SegmentationScores(2)
    # batch 1: label -1 is ignored (its prediction 1 must not count)
    metric.update(mx.nd.array([[[0, 1, 1], [-1, 0, 1]]]), logits([[[0, 1, 0], [1, 1, 1]]]))
    # confusion (rows gt, cols pred): [[1, 1], [1, 2]] -> pixacc 3/5, IoU 1/3 and 2/4
    names, values = metric.get()
    assert names == ['pixacc', 'miou']
    np.testing.assert_allclose(values, [3 / 5, (1 / 3 + 2 / 4) / 2])
    # batch 2 accumulates: gt [[1, 1]], pred [[1, 0]] -> confusion [[1, 1], [2, 3]]
    metric.update(mx.nd.array([[[1, 1]]]), logits([[[1, 0]]]))
    np.testing.assert_allclose(metric.get()[1], [4 / 7, (1 / 4 + 3 / 6) / 2])
    np.testing.assert_allclose(metric.iou(), [1 / 4, 3 / 6])
    metric.reset()
    metric.update(mx.nd.array([[[1, 0]]]), logits([[[1, 0]]]))
    np.testing.assert_allclose(metric.get()[1], [1.0, 1.0])


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
    for key in ('train_loss', 'train_pixacc', 'train_miou', 'val_pixacc', 'val_miou', 'lr'):
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
    assert model['kwargs'] == {'classes': 2, 'form': 'original', 'upsample': 'nearest'}
    fails_with(command.main, argv, 'already holds a run', capsys)
    assert command.main(argv[:-4] + ['--epochs', '2', '--resume', run]) == 0
    assert [r['epoch'] for r in read_metrics(run)] == [0, 1]
    log = open(os.path.join(run, 'train.log')).read()
    assert 'data: StopSign images and masks from %s' % data in log
    assert 'labels: background, stop sign' in log
    fails_with(command.main, argv[:-1] + [str(tmp_path / 'r2'), '--model', 'aff_resnet50'],
               'aff_resnet50 is a classification model for imagenet', capsys)
    assert not os.path.exists(tmp_path / 'r2')
