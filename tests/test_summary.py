"""Parameter and multiply-add counting (gluon_aff.summary) against hand-computed references."""
import pytest
from mxnet.gluon import nn

from gluon_aff import summary
from helpers import load_manifest


def _tiny_net():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, strides=2, padding=1, in_channels=3),          # 8x4x4 out, bias
            nn.BatchNorm(),
            nn.Conv2D(16, 3, padding=1, groups=4, use_bias=False),          # grouped, no bias
            nn.GlobalAvgPool2D(),
            nn.Dense(10))
    return net


def test_counts_tiny_net_by_hand():
    net = _tiny_net()
    net.initialize()
    result = summary.summarize(net, (2, 3, 8, 8))
    conv1 = 2 * 8 * 4 * 4 * (3 * 3 * 3)        # N * C_out * H * W * C_in * kh * kw
    conv2 = 2 * 16 * 4 * 4 * (8 // 4 * 3 * 3)  # grouped: C_in / groups
    dense = 2 * 10 * 16
    assert result['conv_macs'] == conv1 + conv2
    assert result['dense_macs'] == dense
    assert result['macs'] == conv1 + conv2 + dense
    # original counter: + one addition per conv bias element (per batch), dense 2*i*o - i + o
    assert result['flops_openaff'] == conv1 + conv2 + 2 * 8 * 4 * 4 + (2 * 16 * 10 - 16 + 10)
    params_all = (8 * 27 + 8) + 4 * 8 + 16 * 2 * 9 + (10 * 16 + 10)
    assert (result['params_all'], result['params_trainable']) == (params_all, params_all - 16)


def test_counts_without_initialisation():
    counted = summary.summarize(_tiny_net(), (1, 3, 8, 8))
    assert counted['params_all'] == (8 * 27 + 8) + 4 * 8 + 16 * 2 * 9 + (10 * 16 + 10)


def test_zoo_model_counts_equal_manifest():
    for name in ('aff_resnet50', 'cifar_aff_resnet32'):
        result = summary.summarize(name)
        manifest = load_manifest(name)
        assert tuple(result['input_shape'][1:]) == tuple(manifest['input_shape'][1:])
        assert result['params_all'] == manifest['num_params_all']
        assert result['params_trainable'] == manifest['num_params_trainable']


def test_appendix_flops_4p1_vs_4p3():
    """Supplement: ResNet-50 4.1 GFLOPs, AFF-ResNet-50 4.3 GFLOPs (multiply-adds, paper code).
    The extra cost is exactly the AFF point-wise convs of stages 3-4, computed here by hand:
    local branch 2*C*C/16 per pixel, global branch 2*C*C/16 once."""
    base = summary.summarize('add_resnet50_paper')
    aff = summary.summarize('aff_resnet50_paper')
    assert round(base['macs'] / 1e9, 1) == 4.1
    assert round(aff['macs'] / 1e9, 1) == 4.3
    assert round(base['flops_openaff'] / 1e9, 1) == 4.1
    assert round(aff['flops_openaff'] / 1e9, 1) == 4.3
    extra = 0
    for blocks, channels, hw in ((6, 1024, 14 * 14), (3, 2048, 7 * 7)):
        pointwise = 2 * channels * (channels // 16)
        extra += blocks * pointwise * (hw + 1)
    assert aff['macs'] - base['macs'] == extra
    # the final (deep stem) models count 4.3 -> 4.6, so the paper's figures are the paper code's
    final = summary.summarize('aff_resnet50')
    assert round(final['macs'] / 1e9, 1) == 4.6


def test_table7_formula_and_counted():
    rows = summary.table7()
    for key, printed in (('basic_doubling', 3.70), ('basic', 2.78),
                         ('bottleneck_doubling', 7.84), ('bottleneck', 7.69)):
        assert round(rows[key]['percent_formula'], 2) == printed
    # counting the layers of the library's CIFAR block reproduces the basic rows exactly
    assert round(rows['basic_doubling']['percent_counted'], 2) == 3.70
    assert round(rows['basic']['percent_counted'], 2) == 2.78
    # bottleneck v1b: 2 C^2 HW over 17 (15 when doubling) C^2 HW multiply-adds
    assert rows['bottleneck']['percent_counted'] == pytest.approx(100 * 2 / 17)
    assert rows['bottleneck_doubling']['percent_counted'] == pytest.approx(100 * 2 / 15)


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match='input_shape'):
        summary.summarize('aff_resnet50', (224, 224))
    with pytest.raises(ValueError, match='unknown model'):
        summary.summarize('aff_resnet51')


def test_command_line_table(capsys):
    assert summary.main(['cifar_aff_resnet32', 'add_resnet50_paper']) == 0
    out = capsys.readouterr().out
    assert 'cifar_aff_resnet32' in out and '4.089' in out and '7917456' in out
    assert summary.main(['--table7']) == 0
    assert '3.70' in capsys.readouterr().out
