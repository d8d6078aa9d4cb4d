"""Export (gluon_aff.export): SymbolBlock round trip and ONNX against the Gluon model."""
import mxnet as mx
import numpy as np
import pytest

import gluon_aff
from gluon_aff.export import export_model, main
from helpers import golden_error, load_manifest, requires, seeded_input, seeded_params


def _manifest_params(tmp_path, name):
    manifest = load_manifest(name)
    path = tmp_path / ('%s.params' % name)
    mx.nd.save(str(path), {k: mx.nd.array(v) for k, v in seeded_params(manifest['params']).items()})
    return manifest, str(path)


@pytest.mark.parametrize('name', ['aff_resnet50', 'iaff_resnext50_32x4d'])
def test_symbolblock_round_trip_gives_the_golden(tmp_path, name):
    manifest, params = _manifest_params(tmp_path, name)
    paths = export_model(name, str(tmp_path / 'out'), params=params)
    block = mx.gluon.SymbolBlock.imports(paths['symbol'], ['data'], paths['params'])
    x = mx.nd.array(seeded_input(manifest['input_shape']))
    assert golden_error(block(x).asnumpy(), manifest) < 1e-5
    # batch 1 at another size through the exported symbol too
    assert block(mx.nd.zeros((1, 3, 256, 256))).shape == (1, 1000)


def test_onnx_matches_mxnet(tmp_path):
    requires('onnx', 'ONNX export')
    name = 'cifar_iaff_resnet_b1'
    manifest, params = _manifest_params(tmp_path, name)
    shape = (1,) + tuple(manifest['input_shape'][1:])
    paths = export_model(name, str(tmp_path / 'out'), params=params, input_shape=shape, onnx=True)
    import onnx
    onnx.checker.check_model(onnx.load(paths['onnx']))
    ort = requires('onnxruntime', 'running the exported ONNX model')
    x = seeded_input(shape, seed=3)
    net = gluon_aff.get_model(name)
    net.load_parameters(params)
    want = net(mx.nd.array(x)).asnumpy()
    sess = ort.InferenceSession(paths['onnx'], providers=['CPUExecutionProvider'])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_onnx_imagenet_host_with_avgpool_shortcuts(tmp_path):
    """Deep stem, ceil-mode average-pool shortcuts and stage-3/4 fusion, on a 1-block-per-stage
    AFF-ResNet (exporting the full ResNet-50 takes ~25 s)."""
    ort = requires('onnxruntime', 'running the exported ONNX model')
    requires('onnx', 'ONNX export')
    net = gluon_aff.get_model('aff_resnet50', layers=[1, 1, 1, 1], classes=10)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = seeded_input((1, 3, 97, 97))
    want = net(mx.nd.array(x)).asnumpy()
    net.export(str(tmp_path / 'small'))
    path = mx.onnx.export_model(str(tmp_path / 'small-symbol.json'),
                                str(tmp_path / 'small-0000.params'), [x.shape], np.float32,
                                str(tmp_path / 'small.onnx'))
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_command_line_and_errors(tmp_path, capsys):
    assert main(['cifar_aff_resnet_b1', '--out', str(tmp_path)]) == 0
    assert 'cifar_aff_resnet_b1-symbol.json' in capsys.readouterr().out
    assert (tmp_path / 'cifar_aff_resnet_b1-0000.params').is_file()
    with pytest.raises(FileNotFoundError, match='missing.params'):
        export_model('cifar_aff_resnet_b1', str(tmp_path), params=str(tmp_path / 'missing.params'))
    with pytest.raises(ValueError, match='unknown model'):
        export_model('aff_resnet51', str(tmp_path))
