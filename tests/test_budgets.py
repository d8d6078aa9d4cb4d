"""Table 4's "same parameter budget" (paper Sec. 5.1.2): r = 2 for MS-GAU / MS-SE / MS-SA / AFF
and r = 4 for iAFF (the ``r='table4'`` preset) against r = 4 everywhere (Table 2, the default).

Counts are the trainable parameters of the built networks; the claims checked are the paper's
("the same parameter budget") with the tolerances stated in docs/segmentation.md, and the gaps
at the defaults stated in issue 16 (AFF 5.8 % below MS-* in Inception-ResNet-20-b, 8.2 % in the
Fig. 3 FPN layout, b = 1).
"""
import mxnet as mx
import pytest

import gluon_aff

HOSTS = {'inception': 'cifar_{}_inception_resnet_b{}', 'resnet': 'cifar_{}_resnet_b{}',
         'fpn': 'fpn_{}_resnet_b{}', 'fpn_paper': 'fpn_{}_resnet_b{}_paper'}


def trainable(name, **kwargs):
    net = gluon_aff.get_model(name, **kwargs)
    net.initialize()
    net(mx.nd.zeros((1, 3, 8, 8)))
    return sum(p.data().size for p in net.collect_params().values() if p.grad_req != 'null')


@pytest.mark.parametrize('b', [1, 4])
@pytest.mark.parametrize('host', sorted(HOSTS))
def test_table4_preset_equalises_the_budgets(host, b):
    pattern = HOSTS[host]
    ms = {tag: trainable(pattern.format(tag, b), r='table4') for tag in ('ms_gau', 'ms_se',
                                                                         'ms_sa')}
    assert len(set(ms.values())) == 1                      # the three MS-* rows: one budget
    budget = ms['ms_gau']
    aff = trainable(pattern.format('aff', b), r='table4') / budget - 1
    iaff = trainable(pattern.format('iaff', b), r='table4') / budget - 1
    assert abs(aff) <= 0.007 and abs(iaff) <= 0.012, (aff, iaff)
    default_aff = trainable(pattern.format('aff', b)) / budget - 1
    assert default_aff < aff                               # r = 4 leaves AFF short of MS-*


@pytest.mark.parametrize('host, gap', [('inception', 0.058), ('fpn_paper', 0.082)])
def test_default_r_gap_as_reported(host, gap):
    pattern = HOSTS[host]
    ms, aff = trainable(pattern.format('ms_gau', 1)), trainable(pattern.format('aff', 1))
    assert round(1 - aff / ms, 3) == gap
