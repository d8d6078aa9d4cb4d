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


# Original checkpoint names, as the training scripts of both open-aff versions write them
# ('%.4f-...-best.params', '...-<epoch>.params'); those with a path are quoted in the original's
# logs (resume_from / resume_params of ../shared/reference/logs), the others follow the scripts'
# name patterns (final train_cifar.py / train_imagenet.py @0bcfd8a, paper versions @806562e).
ORIGINAL_FILES = {
    # final train_imagenet.py: 'ImageNet-<askc>-<resnet|resnext>--<num_layer>-s-<start_layer>'
    'params/0.2028-imagenet-ImageNet-ASKCFuse-resnet--50-s-3-236-best.params': 'aff_resnet50',
    'imagenet-ImageNet-ResGlobLocaforGlobLocaCha-resnext--50-s-3-239.params':
        'iaff_resnext50_32x4d',
    'imagenet-ImageNet-ResGlobLocaforGlobLocaCha-resnet--50-s-3-239.params': 'iaff_resnet50',
    '0.2028-imagenet-ImageNet-ASKCFuse-resnext--50-s-3-231-best.params': 'aff_resnext50_32x4d',
    'imagenet-ImageNet-DirectAdd-resnet--50-s-3-9.params': 'add_resnet50',
    # Global+Global exists only in the paper version's ResNet-50
    'imagenet-ImageNet-ResGlobGlobCha-resnet--50-s-3-159.params': 'gg_resnet50_paper',
    # paper train_imagenet.py: 'ResNet50_v1bASKC-<askc>', 'ResNeXt-50-32x4d-ASKC-<askc>'
    '0.2091-imagenet-ResNet50_v1bASKC-ASKCFuse-157-best.params': 'aff_resnet50_paper',
    'imagenet-ResNet50_v1bASKC-ResLocaLocaCha-159.params': 'll_resnet50_paper',
    'imagenet-ResNet50_v1bASKC-ResGlobGlobCha-159.params': 'gg_resnet50_paper',
    '0.2022-imagenet-ResNeXt-50-32x4d-ASKC-ResGlobLocaforGlobLocaCha-159-best.params':
        'iaff_resnext50_32x4d_paper',
    # final train_cifar.py: '<dataset>-<askc>-resnet-<depth>-c-<times>-s-<start>', ResNeXt
    # '-resneXt-<depth>-<cardinality>x<width>-'; the logs also show older forms of both
    '0.9078-cifar100-ASKCFuse-resnet-32-c-4-s-1-best.params': 'cifar_aff_resnet32',
    './params/0.9031-cifar100-cifar100-ASKCFuse-resnet-32-c-4-s-1-best.params':
        'cifar_aff_resnet32',
    'cifar100-ResGlobLocaforGlobLocaCha-resnet-32-c-4-s-1.params': 'cifar_iaff_resnet32',
    'params/0.9147-cifar100-ASKCFuse-resneXt-47-32x4-c-4-s-1-best.params':
        'cifar_aff_resnext47_32x4d',
    'params/0.9091-cifar100-ASKCFuse-resneXt-47-c-4-s-1-best.params':
        'cifar_aff_resnext47_32x4d',
    'params/0.9066-cifar100-ASKCFuse-resneXt-38-c-4-s-1-best.params':
        'cifar_aff_resnext38_32x4d',
    'cifar100-ResGlobLocaforGlobLocaCha-resneXt-38-32x4-c-4-s-1.params':
        'cifar_iaff_resnext38_32x4d',
    # paper train_cifar.py: '<dataset>-resnet_<askc>_blocks_<b>_channel_times_<t>_start_layer_<s>
    # _mixup' and the ResNeXt runs' '<dataset>-resnext38_32x4d_askc_mixup' (log file names)
    '0.8110-cifar100-resnet_ResGlobGlobCha_blocks_3_channel_times_1_start_layer_1_mixup-'
    'best.params': 'cifar_gg_resnet_b3',
    '0.7630-cifar100-resnet_ASKCFuse_blocks_1_channel_times_1_start_layer_1_mixup-best.params':
        'cifar_aff_resnet_b1',
    '0.7700-cifar100-resnet_AXYforXplusY_blocks_4_channel_times_1_start_layer_1_mixup-'
    'best.params': 'cifar_ms_sa_resnet_b4',
    '0.8100-cifar100-resnext38_32x4d_askc_mixup-best.params': 'cifar_aff_resnext38_32x4d_paper',
}

# networks without a zoo name of their own: the get_model call that builds them
ORIGINAL_FILES_WITH_OVERRIDES = {
    'imagenet-ImageNet-ASKCFuse-resnet--101-s-3-10.params': ('aff_resnet50', dict(depth=101)),
    'cifar10-ASKCFuse-resnet-32-c-4-s-1.params': ('cifar_aff_resnet32', dict(classes=10)),
    'cifar100-ASKCFuse-resnet-32-c-4-s-2.params': ('cifar_aff_resnet32', dict(start_layer=2)),
    'cifar100-ASKCFuse-resneXt-47-64x4-c-8-s-1.params':
        ('cifar_aff_resnext47_32x4d', dict(channel_times=8)),
    # the paper-version ResNet-32 (train_cifar100_resnet_v2_askc_blocks_5_channel_times_4_...)
    '0.8200-cifar100-resnet_v2_askc_blocks_5_channel_times_4_start_layer_1_mixup-best.params':
        ('cifar_aff_resnet_b1', dict(blocks=5, channel_times=4)),
    '0.8100-cifar100-resnext38_32x4d_iaff_mixup-best.params':
        ('cifar_aff_resnext38_32x4d_paper', dict(fusion='iaff')),
    '0.8000-cifar100-resnext29_32x4d_askc_mixup-best.params':
        ('cifar_aff_resnext38_32x4d_paper', dict(blocks=3)),
}


@pytest.mark.parametrize('path', sorted(ORIGINAL_FILES))
def test_every_original_file_name_gives_an_existing_zoo_name(path):
    name = convert.zoo_name_from_filename(path)
    assert name == ORIGINAL_FILES[path] and name in gluon_aff.get_model_list()


@pytest.mark.parametrize('path', sorted(ORIGINAL_FILES_WITH_OVERRIDES))
def test_original_files_outside_the_zoo_give_the_get_model_call(path):
    name, overrides = ORIGINAL_FILES_WITH_OVERRIDES[path]
    assert convert.original_spec(path) == (name, overrides)
    with pytest.raises(ValueError, match=r"get_model\('%s', " % name):
        convert.zoo_name_from_filename(path)


def test_overrides_build_the_original_networks():
    """Spot checks of what the overrides build, against the original's layer counts."""
    name, overrides = convert.original_spec(
        '0.8200-cifar100-resnet_v2_askc_blocks_5_channel_times_4_start_layer_1_mixup.params')
    net = gluon_aff.get_model(name, **overrides)
    assert [len(net.features[i]) for i in (2, 3, 4)] == [5, 5, 5]   # ResNet-32: 5 per stage
    assert net.features[1]._channels == 64 and net.features[2][0].downsample is None
    assert net.features[3][0].downsample[0].weight.shape[0] == 128   # strided conv (paper)


def test_fusion_spellings_and_unknown_names():
    assert convert.fusion_tag('ResLocalLocaCha') == convert.fusion_tag('ResLocaLocaCha') == 'll'
    assert convert.fusion_tag('askcfuse') == 'aff'
    with pytest.raises(ValueError, match='Nonsense'):
        convert.fusion_tag('Nonsense')
    with pytest.raises(ValueError, match='cannot tell the model.*resnet50_v1b-69'):
        convert.zoo_name_from_filename('/x/imagenet-resnet50_v1b-69.params')  # no fusion in it


def test_convert_writes_a_model_store_file(tmp_path):
    manifest = load_manifest('cifar_aff_resnet32')
    src = tmp_path / '0.9078-cifar100-ASKCFuse-resnet-32-c-4-s-1-best.params'
    _save(src, seeded_params(manifest['params']), dtype='float16')
    target = convert.convert(str(src), root=str(tmp_path / 'models'))
    assert target.startswith(str(tmp_path / 'models' / 'cifar_aff_resnet32-'))
    net = gluon_aff.get_model('cifar_aff_resnet32', pretrained=True, root=str(tmp_path / 'models'))
    out = net(mx.nd.array(seeded_input(manifest['input_shape']))).asnumpy()
    assert golden_error(out, manifest) < 1e-2  # float16 weights
