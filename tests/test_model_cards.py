"""The model registry and its model cards: card fields against values typed by hand from the
original code and the manifests, every card against the model it builds, the card API, and the
"adding a fusion / adding a host" recipe of docs/adding_models.md."""
import dataclasses
import json

import mxnet as mx
import pytest
from mxnet.gluon import HybridBlock

import gluon_aff
from gluon_aff.model_zoo import ModelCard, find_models, get_host, registry
from gluon_aff.nn import fusion as fusion_module
from helpers import load_manifest, manifest_names, resolved_model, structural_shapes

CIFAR_NORM = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))   # open-aff train_cifar.py
IMAGENET_NORM = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))      # open-aff train_imagenet.py

# name -> (task, dataset, input size, (mean, std), classes, version, host, fusion)
CARDS = {
    'cifar_aff_resnet32': ('classification', 'cifar100', (32, 32), CIFAR_NORM, 100, 'final',
                           'resnet', 'aff'),
    'cifar_iaff_resnext47_32x4d': ('classification', 'cifar100', (32, 32), CIFAR_NORM, 100,
                                   'final', 'resnext', 'iaff'),
    'cifar_gg_resnet_b3': ('classification', 'cifar100', (32, 32), CIFAR_NORM, 100, 'paper',
                           'resnet', 'gg'),
    'cifar_aff_resnext38_32x4d_paper': ('classification', 'cifar100', (32, 32), CIFAR_NORM, 100,
                                        'paper', 'resnext', 'aff'),
    'aff_resnet50': ('classification', 'imagenet', (224, 224), IMAGENET_NORM, 1000, 'final',
                     'resnet', 'aff'),
    'iaff_resnext50_32x4d': ('classification', 'imagenet', (224, 224), IMAGENET_NORM, 1000,
                             'final', 'resnext', 'iaff'),
    'll_resnet50_paper': ('classification', 'imagenet', (224, 224), IMAGENET_NORM, 1000,
                          'paper', 'resnet', 'll'),
    'cifar_ms_sa_inception_resnet_b2': ('classification', 'cifar100', (32, 32), CIFAR_NORM, 100,
                                        'built', 'inception_resnet', 'ms_sa'),
    'fpn_concat_resnet_b4': ('segmentation', 'stopsign', (480, 480), IMAGENET_NORM, 2, 'built',
                             'fpn_resnet', 'concat'),
}


@pytest.mark.parametrize('name', sorted(CARDS))
def test_card_fields_typed_by_hand(name):
    task, dataset, size, (mean, std), classes, version, host, fusion = CARDS[name]
    card = gluon_aff.get_model_card(name)
    assert (card.name, card.task, card.dataset, card.input_size, card.mean, card.std,
            card.classes, card.version, card.host, card.fusion, card.sha1) == (
        name, task, dataset, size, mean, std, classes, version, host, fusion, None)
    assert card.crop_ratio == (0.875 if dataset == 'imagenet' else 1.0)


def test_zoo_size_and_families():
    # 3 CIFAR ResNet-32 + 4 CIFAR ResNeXt + 12 x 4 ResNet-20-b + ResNeXt-38 paper
    # + 3 + 3 ImageNet final + 5 + 3 ImageNet paper + 12 x 4 Inception + 12 x 4 FPN
    assert len(gluon_aff.get_model_list()) == 3 + 4 + 48 + 1 + 3 + 3 + 5 + 3 + 48 + 48
    assert find_models(host='resnet', dataset='imagenet', version='final') == [
        'add_resnet50', 'aff_resnet50', 'iaff_resnet50']
    assert find_models(fusion='gg', dataset='imagenet') == ['gg_resnet50_paper']
    assert find_models(host='resnext', version='paper', blocks=4) == [
        'cifar_aff_resnext38_32x4d_paper']
    assert get_host('resnet', 'cifar100') is gluon_aff.model_zoo.get_cifar_resnet
    assert get_host('resnext', 'imagenet', 'paper') is gluon_aff.model_zoo.get_resnext50
    with pytest.raises(ValueError, match="unknown host 'inception_resnet' for cifar100 "
                                         r"\(final version\); choose one of resnet, resnext"):
        get_host('inception_resnet', 'cifar100', 'final')


@pytest.mark.parametrize('name', manifest_names())
def test_card_source_is_the_manifests_original_call(name):
    """The card's ``source`` starts with the commit and constructor call that the reference
    manifest (recorded by running the original code) names."""
    manifest = load_manifest(name)
    source = gluon_aff.get_model_card(name).source
    assert source.startswith('%s %s' % (manifest['source'], manifest['constructor'])), source


def _one_per_family():
    seen = {}
    for name in gluon_aff.get_model_list():
        card = gluon_aff.get_model_card(name)
        seen.setdefault((card.host, card.dataset, card.version), name)
    return sorted(seen.values())


@pytest.mark.parametrize('name', _one_per_family())
def test_card_describes_the_model_it_builds(name):
    card = gluon_aff.get_model_card(name)
    net = resolved_model(name)
    out = net(mx.nd.zeros((1, 3, 32, 32)))
    expected = (1, card.classes) if card.task == 'classification' else (1, card.classes, 32, 32)
    assert out.shape == expected
    fusions = {type(b).tag for b in _blocks(net) if hasattr(type(b), 'tag')}
    assert card.fusion in fusions
    # the card's fixed arguments are the whole recipe: the host family's builder rebuilds it
    rebuilt = get_host(card.host, card.dataset)(**card.kwargs)
    rebuilt.initialize()
    rebuilt(mx.nd.zeros((1, 3, 32, 32)))
    assert structural_shapes(rebuilt) == structural_shapes(net)


def _blocks(block):
    yield block
    for child in block._children.values():
        yield from _blocks(child)


def test_card_api():
    card = gluon_aff.get_model_card('CIFAR_AFF_ResNet32')            # case-insensitive
    assert card == gluon_aff.model_zoo.get_model_card('cifar_aff_resnet32')
    assert [f.name for f in dataclasses.fields(ModelCard)] == [
        'name', 'task', 'dataset', 'input_size', 'mean', 'std', 'classes', 'version', 'host',
        'fusion', 'source', 'sha1', 'kwargs', 'crop_ratio']
    again = ModelCard.from_dict(json.loads(json.dumps(card.to_dict())))
    assert again == card and again.input_size == (32, 32) and isinstance(again.mean, tuple)
    assert card.kwargs == {'fusion': 'aff', 'blocks': 5, 'version': 'final'}
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.classes = 10
    card.kwargs['blocks'] = 1                                          # a copy: zoo unchanged
    assert gluon_aff.get_model_card('cifar_aff_resnet32').kwargs['blocks'] == 5
    assert hash(card) == hash(gluon_aff.get_model_card('cifar_aff_resnet32'))
    with pytest.raises(ValueError, match=r"unknown model 'cifar_aff_resnet33'.*did you mean"):
        gluon_aff.get_model_card('cifar_aff_resnet33')
    with pytest.raises(ValueError, match='unknown model card field.*colour'):
        ModelCard.from_dict(dict(card.to_dict(), colour='red'))
    with pytest.raises(ValueError, match="task must be one of"):
        dataclasses.replace(card, task='detection')
    with pytest.raises(ValueError, match='already registered'):
        registry.register_model('cifar_aff_resnet32', None, 'cifar100', 'final', 'resnet', 'aff',
                                '')


@pytest.fixture
def scratch_registries(monkeypatch):
    """Registries that forget what a test adds."""
    monkeypatch.setattr(registry, '_MODELS', dict(registry._MODELS))
    monkeypatch.setattr(fusion_module, 'FUSIONS', dict(fusion_module.FUSIONS))
    monkeypatch.setattr(fusion_module, 'FUSION_ALIASES', dict(fusion_module.FUSION_ALIASES))


def test_adding_a_fusion_and_a_family_as_documented(scratch_registries):
    """docs/adding_models.md: one decorator adds a fusion, one call adds a family of names."""
    from gluon_aff.model_zoo import get_cifar_resnet, register_family
    from gluon_aff.nn import build_fusion, register_fusion

    @register_fusion('max', 'MaxFuse')
    class MaxFuse(HybridBlock):
        """``max(x, residual)``"""

        def __init__(self, channels, r=4, form='original', **kwargs):
            super(MaxFuse, self).__init__(**kwargs)

        def hybrid_forward(self, F, x, residual):
            return F.maximum(x, residual)

    assert isinstance(build_fusion('MaxFuse', 16), MaxFuse)
    names = register_family(
        'cifar_{fusion}_resnet_b{blocks}', get_cifar_resnet,
        dict(fusion=('max',), blocks=(1, 2)), kwargs=dict(version='paper'), dataset='cifar100',
        version='paper', host='resnet', source='gluon-aff experiment ({askc})')
    assert names == ['cifar_max_resnet_b1', 'cifar_max_resnet_b2']
    card = gluon_aff.get_model_card('cifar_max_resnet_b2')
    assert (card.fusion, card.input_size, card.source) == ('max', (32, 32),
                                                           'gluon-aff experiment (MaxFuse)')
    net = resolved_model('cifar_max_resnet_b2', classes=10)
    assert isinstance(net.features[2][1].attention, MaxFuse) and len(net.features[3]) == 2
