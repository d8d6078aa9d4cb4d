"""Loading checkpoints in the original code's layouts (gluon_aff.model_zoo.convert)."""
import mxnet as mx
import numpy as np
import pytest

import gluon_aff
from gluon_aff.model_zoo import convert
from helpers import golden_error, load_manifest, seeded_input, seeded_params


def _save(path, arrays, dtype='float32'):
    mx.nd.save(str(path), {k: mx.nd.array(v, dtype=dtype) for k, v in arrays.items()})


@pytest.mark.parametrize('name', ['aff_resnet50', 'cifar_aff_resnet_b1'])
def test_structural_file_from_manifest_loads(tmp_path, name):
    """A file keyed like the original's save_parameters (the manifest's keys, seeded values)
    loads unchanged and gives the original's golden output."""
    manifest = load_manifest(name)
    path = tmp_path / 'orig.params'
    _save(path, seeded_params(manifest['params']))
    net = gluon_aff.get_model(name)
    convert.load_original(net, str(path), input_shape=manifest['input_shape'])
    out = net(mx.nd.array(seeded_input(manifest['input_shape']))).asnumpy()
    assert golden_error(out, manifest) < 1e-5


def test_float16_file_is_cast(tmp_path):
    """The ImageNet recipe trains and saves in float16."""
    manifest = load_manifest('cifar_aff_resnet_b1')
    values = seeded_params(manifest['params'])
    path = tmp_path / 'fp16.params'
    _save(path, values, dtype='float16')
    net = gluon_aff.get_model('cifar_aff_resnet_b1')
    convert.load_original(net, str(path), input_shape=manifest['input_shape'])
    params = net._collect_params_with_prefix()
    for key, value in values.items():
        assert params[key].data().dtype == np.float32
        np.testing.assert_array_equal(params[key].data().asnumpy(),
                                      value.astype(np.float16).astype(np.float32))


def test_legacy_prefixed_file_with_original_class_names(tmp_path):
    """save_params layout: prefixed names (network prefix stripped), here with the original's
    class names in them (ImageNet spelling ``reslocalocacha``), in creation order."""
    manifest = load_manifest('ll_resnet50_paper')
    values = seeded_params(manifest['params'])
    reference = gluon_aff.get_model('ll_resnet50_paper')
    reference.initialize()
    reference(mx.nd.zeros(manifest['input_shape']))
    by_param = {id(p): k for k, p in reference._collect_params_with_prefix().items()}
    legacy = {}
    for i, param in enumerate(reference.collect_params().values()):
        kind = next(k for k in ('running_mean', 'running_var', 'gamma', 'beta', 'weight', 'bias')
                    if param.name.endswith(k))
        legacy['layers_reslocalocacha%d_conv_%s' % (i, kind)] = values[by_param[id(param)]]
    path = tmp_path / 'legacy.params'
    _save(path, legacy)
    net = gluon_aff.get_model('ll_resnet50_paper')
    convert.load_original(net, str(path))
    out = net(mx.nd.array(seeded_input(manifest['input_shape']))).asnumpy()
    assert golden_error(out, manifest) < 1e-5


def test_mismatches_are_clear_errors(tmp_path):
    manifest = load_manifest('cifar_aff_resnet_b1')
    values = seeded_params(manifest['params'])
    net = gluon_aff.get_model('cifar_aff_resnet_b2')
    path = tmp_path / 'b1.params'
    _save(path, values)
    with pytest.raises(ValueError, match='missing'):
        convert.load_original(net, str(path), input_shape=(1, 3, 32, 32))
    with pytest.raises(FileNotFoundError, match='nope.params'):
        convert.load_original(net, str(tmp_path / 'nope.params'))
    bad = tmp_path / 'bad.params'
    bad.write_bytes(b'not a params file')
    with pytest.raises(ValueError, match='bad.params'):
        convert.load_original(net, str(bad))


def test_file_names_and_fusion_spellings():
    assert convert.zoo_name_from_filename(
        'params/0.2028-imagenet-ImageNet-ASKCFuse-resnet--50-s-3-236-best.params') == 'aff_resnet50'
    assert convert.zoo_name_from_filename(
        'imagenet-ImageNet-ResGlobLocaforGlobLocaCha-resnext--50-s-3-239.params') \
        == 'iaff_resnext50_32x4d'
    assert convert.zoo_name_from_filename(
        '0.9078-cifar100-ASKCFuse-resnet-32-c-4-s-1-best.params') == 'cifar_aff_resnet32'
    assert convert.zoo_name_from_filename(
        'cifar100-ASKCFuse-resneXt-47-32x4-c-4-s-1.params') == 'cifar_aff_resnext47_32x4d'
    assert convert.fusion_tag('ResLocalLocaCha') == convert.fusion_tag('ResLocaLocaCha') == 'll'
    with pytest.raises(ValueError, match='Nonsense'):
        convert.fusion_tag('Nonsense')


def test_convert_writes_a_model_store_file(tmp_path):
    manifest = load_manifest('cifar_aff_resnet32')
    src = tmp_path / '0.9078-cifar100-ASKCFuse-resnet-32-c-4-s-1-best.params'
    _save(src, seeded_params(manifest['params']), dtype='float16')
    target = convert.convert(str(src), root=str(tmp_path / 'models'))
    assert target.startswith(str(tmp_path / 'models' / 'cifar_aff_resnet32-'))
    net = gluon_aff.get_model('cifar_aff_resnet32', pretrained=True, root=str(tmp_path / 'models'))
    out = net(mx.nd.array(seeded_input(manifest['input_shape']))).asnumpy()
    assert golden_error(out, manifest) < 1e-2  # float16 weights
