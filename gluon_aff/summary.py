"""Parameter counts and multiply-adds of zoo models, counted from the symbol graph.

No MXNet FLOP counter is maintained on PyPI, so the network is traced once into a symbol, shapes
are inferred for every node, and each ``Convolution`` / ``FullyConnected`` node contributes
``prod(output shape) * prod(weight shape[1:])`` multiply-adds (``weight shape[1:]`` is
``in_channels / groups * kh * kw`` for a convolution, ``in_units`` for a dense layer). BatchNorm,
activations, pooling and the fusion's element-wise arithmetic are not counted, as in the original
code's counter (open-aff ``utils/flops.py``), which additionally counts one addition per bias
element and ``2 * in * out - in + out`` for a dense layer; :func:`count_macs` returns that number
too (``flops_openaff``).

Reproduced numbers (supplementary "Analysis of FLOPs" and Table 7 of Dai et al., WACV 2021):

* 4.1 vs 4.3 GFLOPs: ``add_resnet50_paper`` vs ``aff_resnet50_paper`` (7x7 stem, the paper's
  code) at 224x224, counting multiply-adds (4.11 G and 4.34 G); the final deep-stem models count
  4.35 G and 4.58 G.
* Table 7: :func:`table7` gives each row's ratio from the paper's formula and from counting the
  layers of a block built by this library.

Command line::

    python -m gluon_aff.summary aff_resnet50 [--input-size 224]
    python -m gluon_aff.summary --all          # table over every zoo model
    python -m gluon_aff.summary --table7
"""
from __future__ import division, print_function

import argparse
import json

import numpy as np

__all__ = ['count_params', 'count_macs', 'layer_macs', 'summarize', 'default_input_shape',
           'table7', 'TABLE7_FORMULAS', 'format_table', 'main']

#: ops whose multiply-adds are counted
COUNTED_OPS = ('Convolution', 'FullyConnected')

#: Table 7 of the supplement: row -> (conv FLOPs, AFF point-wise FLOPs) in units of C^2 HW,
#: and the percentage printed in the paper
TABLE7_FORMULAS = {
    'basic_doubling': (27, 1, 3.70),
    'basic': (36, 1, 2.78),
    'bottleneck_doubling': (51, 4, 7.84),
    'bottleneck': (52, 4, 7.69),
}


def default_input_shape(name, net=None):
    """Input shape a zoo model is evaluated at: ``(1, 3) + input_size`` of its model card
    (:func:`gluon_aff.get_model_card`); 224x224 for a name outside the zoo (a network)."""
    from .model_zoo import get_model_card, get_model_list
    if name and name.lower() in get_model_list():
        return (1, 3) + tuple(get_model_card(name).input_size)
    return (1, 3, 224, 224)


def _as_net(name_or_net):
    if isinstance(name_or_net, str):
        from .model_zoo import get_model
        return name_or_net, get_model(name_or_net)
    return type(name_or_net).__name__, name_or_net


def _check_shape(input_shape):
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError('input_shape must be a tuple of ints (N, C, H, W), got %r'
                         % (input_shape,)) from None
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError('input_shape must be (N, C, H, W) with positive sizes, got %r'
                         % (input_shape,))
    return shape


def count_params(net, input_shape=None):
    """``(all, trainable)`` parameter counts of ``net``.

    ``all`` includes BatchNorm running statistics (the original README's CIFAR counts),
    ``trainable`` excludes them (``grad_req == 'null'``; the paper's Table 5). Deferred shapes
    are resolved by a symbolic shape inference at ``input_shape`` when needed.
    """
    params = net.collect_params()
    if any(0 in p.shape or not p.shape for p in params.values() if p.shape is not None):
        shapes = _infer(net, input_shape or (1, 3, 224, 224))[1]
        sizes = {p.name: int(np.prod(shapes[p.name])) for p in params.values()}
    else:
        sizes = {p.name: int(np.prod(p.shape)) for p in params.values()}
    total = sum(sizes.values())
    trainable = sum(sizes[p.name] for p in params.values() if p.grad_req != 'null')
    return total, trainable


def _infer(net, input_shape):
    """Trace ``net`` into a symbol; return (symbol, {arg/aux name: shape}, {output: shape})."""
    import mxnet as mx
    data = mx.sym.var('data')
    sym = net(data)
    if isinstance(sym, (list, tuple)):
        sym = mx.sym.Group(list(sym))
    arg_shapes, _, aux_shapes = sym.infer_shape(data=input_shape)
    if arg_shapes is None:
        raise ValueError('cannot infer the shapes of %s at input shape %s'
                         % (type(net).__name__, input_shape))
    shapes = dict(zip(sym.list_arguments(), arg_shapes))
    shapes.update(zip(sym.list_auxiliary_states(), aux_shapes))
    internals = sym.get_internals()
    _, out_shapes, _ = internals.infer_shape(data=input_shape)
    outputs = dict(zip(internals.list_outputs(), out_shapes))
    return sym, shapes, outputs


def layer_macs(net, input_shape=(1, 3, 224, 224)):
    """Per-layer multiply-adds: a list of dicts ``name, op, weight`` (parameter name),
    ``output_shape, weight_shape, macs, bias`` (bias elements added, ``0`` without bias) for every
    convolution and dense node."""
    input_shape = _check_shape(input_shape)
    sym, shapes, outputs = _infer(net, input_shape)
    graph = json.loads(sym.tojson())
    nodes = graph['nodes']
    layers = []
    for node in nodes:
        if node['op'] not in COUNTED_OPS:
            continue
        inputs = [nodes[i[0]]['name'] for i in node['inputs']]
        weight_shape = tuple(shapes[inputs[1]])
        out_shape = tuple(outputs[node['name'] + '_output'])
        no_bias = str(node.get('attrs', {}).get('no_bias', 'False')).lower() in ('true', '1')
        layers.append(dict(
            name=node['name'], op=node['op'], weight=inputs[1], output_shape=out_shape,
            weight_shape=weight_shape,
            macs=int(np.prod(out_shape)) * int(np.prod(weight_shape[1:])),
            bias=0 if no_bias else int(np.prod(out_shape))))
    return layers


def count_macs(net, input_shape=(1, 3, 224, 224)):
    """Multiply-adds of the convolutions and dense layers of ``net`` at ``input_shape``.

    Returns ``dict(macs, conv_macs, dense_macs, flops_openaff)``; ``flops_openaff`` is the
    original code's convention (multiply-adds + bias additions; dense ``2*in*out - in + out``).
    """
    layers = layer_macs(net, input_shape)
    conv = sum(l['macs'] for l in layers if l['op'] == 'Convolution')
    dense = sum(l['macs'] for l in layers if l['op'] == 'FullyConnected')
    openaff = 0
    for l in layers:
        if l['op'] == 'Convolution':
            openaff += l['macs'] + l['bias']
        else:  # per sample, as the original's Dense hook ignores the batch
            out_units, in_units = l['weight_shape'][0], l['weight_shape'][1]
            openaff += (2 * out_units * in_units - in_units + (out_units if l['bias'] else 0))
    return dict(macs=conv + dense, conv_macs=conv, dense_macs=dense, flops_openaff=openaff)


def summarize(name_or_net, input_shape=None):
    """Parameters and multiply-adds of a zoo model (by name) or of a network.

    Parameters
    ----------
    name_or_net : str or HybridBlock
        Zoo name (see :func:`gluon_aff.get_model_list`) or a network.
    input_shape : tuple of int, optional
        ``(N, C, H, W)``; default :func:`default_input_shape` of the name (224x224 for a network).

    Returns
    -------
    dict
        ``name, input_shape, params_all, params_trainable, macs, conv_macs, dense_macs,
        flops_openaff``. ``macs`` is per batch of ``N`` (use ``N = 1``).
    """
    name, net = _as_net(name_or_net)
    if input_shape is None:
        input_shape = default_input_shape(name if isinstance(name_or_net, str) else '', net)
    input_shape = _check_shape(input_shape)
    params_all, params_trainable = count_params(net, input_shape)
    result = dict(name=name, input_shape=input_shape, params_all=params_all,
                  params_trainable=params_trainable)
    result.update(count_macs(net, input_shape))
    return result


def _block_and_fusion_macs(block, input_shape):
    """(host conv MACs without shortcut, fusion conv MACs at full resolution) of one block."""
    block.initialize()
    fusion_params = set(block.attention.collect_params())
    shortcut_params = set(block.downsample.collect_params()) if block.downsample else set()
    host = fusion = 0
    for layer in layer_macs(block, input_shape):
        if layer['weight'] in fusion_params:
            # only the point-wise convs on the H x W map: the global branch runs on 1 x 1
            if layer['output_shape'][2:] != (1, 1):
                fusion += layer['macs']
        elif layer['weight'] not in shortcut_params:
            host += layer['macs']
    return host, fusion


def table7(channels=64, size=8):
    """Table 7 of the supplement: extra cost of the AFF point-wise convs in one block.

    Each row holds ``conv``/``aff`` (the paper's formula in units of ``C^2 HW``),
    ``percent_formula`` (``100 * aff / conv``), ``percent_paper`` (printed), and
    ``percent_counted``: the same ratio counted from the convolutions of a block built by this
    library (output ``channels`` x ``size`` x ``size``; shortcut projection and the global
    branch, which runs on a 1 x 1 map, excluded).

    Counting reproduces the basic-block rows (CIFAR pre-activation block, r = 4: 1/27 and 1/36
    exactly). For the bottleneck rows the paper's ``51/52 C^2 HW`` cannot be obtained from a
    bottleneck v1b: with ``C`` = bottleneck width, its 1x1-3x3-1x1 convs cost ``17 C^2 HW``
    multiply-adds (``15`` when the input has half the output channels), the AFF point-wise
    convs ``2 C^2 HW`` (the table's ``4 C^2 HW`` counts multiply and add), so the counted
    ratios are 11.76 % and 13.33 %, not 7.69 % and 7.84 %.
    """
    from .model_zoo.cifar_resnet import CIFARResBlockV2
    from .model_zoo.resnet import AFFBottleneck
    rows = {}
    for key, (conv, aff, printed) in TABLE7_FORMULAS.items():
        doubling = key.endswith('doubling')
        if key.startswith('basic'):
            in_c = channels // 2 if doubling else channels
            block = CIFARResBlockV2('aff', channels, 1, downsample=doubling,
                                    in_channels=in_c, r=4, prefix='block_')
            counted = _block_and_fusion_macs(block, (1, in_c, size, size))
        else:
            planes = channels
            # doubling block: input 2C channels at the same H x W (stride 1, so that all convs
            # are counted at the output resolution as in the table)
            in_c = 2 * planes if doubling else 4 * planes
            from mxnet.gluon import nn
            down = None
            if doubling:
                down = nn.HybridSequential(prefix='down_')
                down.add(nn.Conv2D(4 * planes, 1, use_bias=False), nn.BatchNorm())
            block = AFFBottleneck('aff', planes, 1, down, r=16, prefix='block_')
            counted = _block_and_fusion_macs(block, (1, in_c, size, size))
        rows[key] = dict(conv=conv, aff=aff, percent_paper=printed,
                         percent_formula=100.0 * aff / conv,
                         percent_counted=100.0 * counted[1] / counted[0],
                         counted_macs=counted)
    return rows


def format_table(rows):
    """Text table of :func:`summarize` results."""
    lines = ['%-42s %12s %12s %14s %10s' % ('model', 'params', 'trainable', 'input', 'GMACs')]
    for r in rows:
        lines.append('%-42s %12d %12d %14s %10.3f' % (
            r['name'], r['params_all'], r['params_trainable'],
            'x'.join(str(s) for s in r['input_shape'][1:]), r['macs'] / 1e9))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Parameters (all / trainable) and multiply-adds of gluon-aff models.')
    parser.add_argument('models', nargs='*', help='zoo names (default with --all: every model)')
    parser.add_argument('--all', action='store_true', help='table over every zoo model')
    parser.add_argument('--input-size', type=int, default=None,
                        help="square input size (default: the model card's input size)")
    parser.add_argument('--table7', action='store_true',
                        help="print the supplement's Table 7 (formula vs counted)")
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    args = parser.parse_args(argv)
    from .model_zoo import get_model_list
    if args.table7:
        rows = table7()
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print('%-22s %8s %10s %10s %10s' % ('row', 'formula', 'paper %', 'formula %',
                                                'counted %'))
            for key, row in rows.items():
                print('%-22s %4d/%-3d %10.2f %10.2f %10.2f' % (
                    key, row['aff'], row['conv'], row['percent_paper'],
                    row['percent_formula'], row['percent_counted']))
        return 0
    names = args.models or (get_model_list() if args.all else [])
    if not names:
        parser.error('give a model name or --all')
    rows = []
    for name in names:
        shape = (1, 3, args.input_size, args.input_size) if args.input_size else None
        rows.append(summarize(name, shape))
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
