"""Grad-CAM against a hand-built network whose class scores are known linear functions of the
feature map: score_c = sum_k D[c, k] * mean(A_k), A = ReLU(W x) (1x1 conv), so
d score_c / d A_k = D[c, k] / HW and cam_c = ReLU(sum_k D[c, k] A_k) up to a positive factor."""
import os
import shutil

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

import gluon_aff
from gluon_aff.gradcam import GradCAM, compare_models, comparison_figure, default_layer, overlay

W = np.array([[1, 0, 0], [0, 1, 0]], np.float32)           # channel k reads colour k
D = np.array([[2.0, -1.0], [-1.0, 2.0]], np.float32)        # class c likes channel c


class Tiny(nn.HybridBlock):
    def __init__(self, **kwargs):
        super(Tiny, self).__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix='')
            stage = nn.HybridSequential(prefix='')
            stage.add(nn.Conv2D(2, 1, in_channels=3, use_bias=False), nn.Activation('relu'))
            self.features.add(stage, nn.GlobalAvgPool2D(), nn.Flatten())
            self.output = nn.Dense(2, in_units=2, use_bias=False)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def tiny_net():
    net = Tiny()
    net.initialize()
    net.features[0][0].weight.set_data(mx.nd.array(W.reshape(2, 3, 1, 1)))
    net.output.weight.set_data(mx.nd.array(D))
    return net


def planted_image():
    """Red square (rows 2-5, cols 3-6) at 1.0, green square (rows 10-13, cols 9-12) at 0.5."""
    img = np.zeros((1, 3, 16, 16), np.float32)
    img[0, 0, 2:6, 3:7] = 1.0
    img[0, 1, 10:14, 9:13] = 0.5
    return img


def reference_cam(img, c):
    fmap = np.maximum(np.einsum('kc,chw->khw', W, img[0]), 0)
    cam = np.maximum(np.einsum('k,khw->hw', D[c] / fmap[0].size, fmap), 0)
    return (cam - cam.min()) / (cam.max() - cam.min())


def test_heatmap_matches_formula_and_follows_planted_pattern():
    img = planted_image()
    net = tiny_net()
    cam, cls, prob = GradCAM(net)(mx.nd.array(img))
    # predicted class by hand: mean A = (16/256, 8/256); logits = D @ mean A
    logits = D @ np.array([16.0, 8.0]) / 256
    assert cls == int(np.argmax(logits)) == 0
    assert prob == pytest.approx(np.exp(logits[0]) / np.exp(logits).sum(), rel=1e-5)
    assert cam.shape == (16, 16) and cam.dtype == np.float32
    assert cam.min() == 0.0 and cam.max() == pytest.approx(1.0)
    np.testing.assert_allclose(cam, reference_cam(img, 0), atol=1e-5)
    assert cam[2:6, 3:7].min() == pytest.approx(1.0) and cam[10:14, 9:13].max() == 0.0
    cam1, cls1, _ = GradCAM(net)(mx.nd.array(img), class_id=1)
    assert cls1 == 1
    np.testing.assert_allclose(cam1, reference_cam(img, 1), atol=1e-5)
    hot = np.unravel_index(cam1.argmax(), cam1.shape)
    assert 10 <= hot[0] < 14 and 9 <= hot[1] < 13


def test_resized_to_image_and_default_layer_is_last_stage():
    net = gluon_aff.get_model('cifar_aff_resnet_b1')
    net.initialize(mx.init.Xavier())
    assert default_layer(net, (1, 3, 32, 32)) == 'features.4'   # third stage: 64 x 8 x 8
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (1, 3, 32, 32)))
    cam, cls, prob = GradCAM(net)(x)
    assert cam.shape == (32, 32) and 0 <= cls < 100 and 0 < prob < 1
    assert cam.min() >= 0 and cam.max() <= 1


def test_bad_inputs():
    net = tiny_net()
    x = mx.nd.array(planted_image())
    with pytest.raises(ValueError, match='layer9'):
        GradCAM(net, 'layer9')(x)
    with pytest.raises(ValueError, match='out of range'):
        GradCAM(net)(x, class_id=5)
    with pytest.raises(ValueError, match='shape'):
        GradCAM(net)(x[0])
    net.hybridize()
    with pytest.raises(ValueError, match='hybridize'):
        GradCAM(net)


def test_overlay_and_side_by_side_png(tmp_path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    image = np.zeros((40, 40, 3), np.uint8)
    image[5:15, 5:15, 0] = 255
    path = str(tmp_path / 'planted.png')
    plt.imsave(path, image)
    mixed = overlay(image[:32, :32], np.ones((32, 32), np.float32))
    assert mixed.shape == (32, 32, 3) and mixed.dtype == np.uint8
    written = compare_models([('cifar_tiny_a', tiny_net(), None),
                              ('cifar_tiny_b', tiny_net(), 'features.0')],
                             [path], str(tmp_path / 'out'))
    assert sorted(os.path.basename(p) for p in written) == [
        'planted_cifar_tiny_a.png', 'planted_cifar_tiny_b.png', 'planted_gradcam.png']
    assert all(os.path.getsize(p) > 0 for p in written)


def test_titles_stay_inside_the_figure():
    image = np.zeros((32, 32, 3), np.uint8)
    cam = np.zeros((32, 32), np.float32)
    results = [('cifar_aff_resnext38_32x4d_paper', cam, 3, 0.51),
               ('cifar_iaff_resnext47_32x4d', cam, 7, 0.25)]
    fig = comparison_figure(image, results, class_names=['class name %d' % i for i in range(10)])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    titles = [ax.title for ax in fig.axes]
    assert [t.get_text().split('\n')[0] for t in titles] == ['input'] + [r[0] for r in results]
    for title in titles:
        extent = title.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, title.get_text()
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, title.get_text()


def _cifar_checkpoint(tmp_path, name='cifar_aff_resnet_b1'):
    """A run folder holding a checkpoint of ``name`` (random weights), and its params file."""
    from gluon_aff.training import model_record
    from gluon_aff.training.checkpoint import save_checkpoint
    net = gluon_aff.get_model(name)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 32, 32)))
    run = tmp_path / ('run_' + name)
    run.mkdir()
    save_checkpoint(str(run / 'best'), net, epoch=0, model=model_record(name), info={})
    return str(run), str(run / 'best.params')


def test_command_runs_and_names_bad_inputs(tmp_path, capsys):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from command_helpers import fails_with
    from gluon_aff.commands import gradcam
    image = str(tmp_path / 'img.png')
    plt.imsave(image, np.random.RandomState(0).randint(0, 255, (40, 40, 3)).astype(np.uint8))
    run, params = _cifar_checkpoint(tmp_path)
    other_run, other = _cifar_checkpoint(tmp_path, 'cifar_add_resnet_b1')
    out = tmp_path / 'out'
    assert gradcam.main(['--run', run, '--model', 'cifar_add_resnet_b1', '--params', other,
                         '--out', str(out), image]) == 0
    assert sorted(os.listdir(out)) == ['img_cifar_add_resnet_b1.png',
                                       'img_cifar_aff_resnet_b1.png', 'img_gradcam.png']
    bad_out = tmp_path / 'bad'
    text = tmp_path / 'notes.txt'
    text.write_text('not an image')
    line = fails_with(gradcam.main, ['--run', run, '--out', str(bad_out), str(text)],
                      str(text), capsys)
    assert 'not an image' in line
    garbage = tmp_path / 'garbage.params'
    garbage.write_bytes(b'\x00' * 32)
    line = fails_with(gradcam.main, ['--model', 'cifar_aff_resnet_b1', '--params', str(garbage),
                                     '--out', str(bad_out), image], str(garbage), capsys)
    assert 'is not an MXNet .params file' in line
    line = fails_with(gradcam.main, ['--model', 'cifar_aff_resnet_b1', '--params', other,
                                     '--out', str(bad_out), image], 'holds cifar_add_resnet_b1',
                      capsys)                              # a checkpoint knows its network
    bare = str(tmp_path / 'bare.params')                   # a file alone does not
    shutil.copyfile(other, bare)
    line = fails_with(gradcam.main, ['--model', 'cifar_aff_resnet_b1', '--params', bare,
                                     '--out', str(bad_out), image], bare, capsys)
    assert 'does not fit' in line and '--model' in line
    fails_with(gradcam.main, ['--params', params, '--out', str(bad_out), image],
               'must follow its --model', capsys)
    fails_with(gradcam.main, ['--model', 'cifar_aff_resnet_b1', '--out', str(bad_out), image],
               'no weights for cifar_aff_resnet_b1', capsys)
    fails_with(gradcam.main, ['--run', run, '--class-id', '500', '--out', str(bad_out), image],
               'class_id 500 out of range', capsys)
    assert not bad_out.exists()
