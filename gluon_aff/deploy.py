"""Fast CPU inference for trained models: float32 with folded BatchNorm, bfloat16, INT8.

``optimize(net, example, precision)`` turns a trained Gluon network into an inference
:class:`~mxnet.gluon.SymbolBlock` with MXNet 1.9's own tools:

``'fp32'``
    The graph partitioned by the MKLDNN subgraph backend (``Symbol.optimize_for('MKLDNN')``):
    every ``Convolution -> BatchNorm [-> ReLU] [-> add]`` chain becomes one fused convolution with
    the BatchNorm folded into its weights and bias (a BN can only be folded into a convolution
    whose output nothing else reads). Equal to the model to float32 rounding (about 2e-7
    relative on ``aff_resnet50``).
``'bf16'``
    MXNet's AMP conversion to bfloat16 (``mxnet.contrib.amp.convert_hybrid_block``), then the
    same partitioning: convolutions (BN folded) and dense layers compute in bfloat16 (oneDNN
    ``avx512_bf16`` kernels where the CPU has them). What AMP lists as float32-only stays
    float32, among it the whole element-wise part of the fusions (sigmoid weights, products,
    sums), and so does the output layer (float32 logits). Pooling is kept in float32 too:
    MXNet 1.9.1's AMP pass otherwise fails to type the average-pool shortcut that follows an AFF
    block ("Incompatible attr ... expected bfloat16, got float32").
``'int8'``
    MXNet's post-training quantization (``mxnet.contrib.quantization.quantize_net_v2``),
    calibrated with the min/max of every layer output over ``calib_data`` (``calib_mode='naive'``).
    Convolutions, dense layers, pooling, ReLUs and additions run in INT8, signed
    (``quantized_dtype='auto'`` picks uint8 after ReLUs and then fails at run time on the AFF
    graph in MXNet 1.9.1: "Expected unsigned char v.s. given char"). In float32 stay: the
    sigmoids (MXNet quantizes no other activation than ReLU and says so in its log), the
    fusions' reshapes and ``batch_dot`` (not quantizable), and :data:`INT8_FP32_OPERATORS`, the
    products of the fusions' soft selection (``w * x``, ``(1 - w) * y``), which MXNet 1.9.1
    would otherwise quantize, attention weights included, to 8 bits.

``docs/performance.md`` has the measured speed-ups and accuracies.
"""
from __future__ import division

__all__ = ['PRECISIONS', 'INT8_FP32_OPERATORS', 'BF16_FP32_OPERATORS', 'optimize']

PRECISIONS = ('fp32', 'bf16', 'int8')

#: operators the int8 path leaves in float32 (the fusions' soft selection)
INT8_FP32_OPERATORS = ('elemwise_mul',)

#: operators the bf16 path adds to AMP's float32 list (see the module docstring)
BF16_FP32_OPERATORS = ('Pooling',)


def _check(net, example, precision, calib_data):
    import mxnet as mx
    if precision not in PRECISIONS:
        raise ValueError('precision must be one of %s, got %r'
                         % (', '.join(PRECISIONS), precision))
    if not isinstance(net, mx.gluon.HybridBlock):
        raise ValueError('optimize needs a HybridBlock, got %s' % type(net).__name__)
    if not isinstance(example, mx.nd.NDArray) or example.ndim != 4:
        raise ValueError('example must be an NCHW NDArray batch, got %r'
                         % (getattr(example, 'shape', example),))
    if precision == 'int8':
        if not calib_data:
            raise ValueError("precision='int8' needs calib_data: a list of input batches "
                             '(NDArrays shaped like example) to calibrate the quantization')
        for batch in calib_data:
            if not isinstance(batch, mx.nd.NDArray) or batch.shape[1:] != example.shape[1:]:
                raise ValueError('every calib_data batch must be an NDArray shaped (N,) + %s, '
                                 'got %r' % (example.shape[1:], getattr(batch, 'shape', batch)))


def _graph(net, example):
    """``(symbol, {name: parameter value})`` of ``net`` traced on ``example`` (hybridizing it
    with its own settings if it is not already)."""
    if not net._active:
        net.hybridize()
    net(example)
    return net._cached_graph[1], {name: p.data(example.context)
                                  for name, p in net.collect_params().items()}


def _partition(sym, params, example):
    """``sym`` partitioned by the MKLDNN subgraph backend (Conv + BN folded [+ ReLU] [+ add])."""
    args, aux = set(sym.list_arguments()), set(sym.list_auxiliary_states())
    return sym.optimize_for('MKLDNN', {k: v for k, v in params.items() if k in args},
                            {k: v for k, v in params.items() if k in aux},
                            ctx=example.context, shape_dict={'data': example.shape})


def _symbol_block(sym, params, ctx):
    """A SymbolBlock of ``sym`` (input ``data``) holding ``params`` in their own dtypes."""
    import mxnet as mx
    block = mx.gluon.SymbolBlock(sym, mx.sym.var('data'))
    for name, param in block.collect_params().items():
        if param.dtype != params[name].dtype:  # bfloat16 weights
            param.cast(params[name].dtype)
    block.collect_params().load_dict(params, ctx=ctx)
    return block


def optimize(net, example, precision='fp32', calib_data=None):
    """An inference block computing ``net`` at ``precision`` on the CPU.

    Parameters
    ----------
    net : HybridBlock
        A trained (initialised) network with one input, e.g. a zoo model after
        ``load_parameters``. It is hybridized (a hybridized net keeps its settings, e.g.
        ``static_alloc``); its parameters are read, not changed.
    example : NDArray
        An input batch ``(N, C, H, W)`` on the CPU; the block is planned for this shape
        (static allocation); other batch sizes work and re-plan.
    precision : {'fp32', 'bf16', 'int8'}
        See the module docstring.
    calib_data : list of NDArray, optional
        Input batches (preprocessed like the real inputs) for the INT8 calibration; required for
        ``'int8'``, ignored otherwise. A few hundred images are plenty.

    Returns
    -------
    SymbolBlock
        Hybridized with ``static_alloc`` and run once on ``example``; float32 outputs for every
        precision. ``block.export(prefix, remove_amp_cast=False)`` saves it.
    """
    _check(net, example, precision, calib_data)
    ctx = example.context
    if precision == 'int8':
        from mxnet.contrib import quantization
        active, flags = net._active, dict(net._flags)
        block = quantization.quantize_net_v2(
            net, quantized_dtype='int8', exclude_operators=list(INT8_FP32_OPERATORS),
            calib_data=[[batch.as_in_context(ctx)] for batch in calib_data], calib_mode='naive',
            ctx=ctx)
        net.hybridize(active, **flags)  # quantize_net_v2 hybridized it with default settings
    else:
        sym, params = _graph(net, example)
        if precision == 'bf16':
            from mxnet.contrib import amp
            # the output layer stays float32: float32 logits, as for the other precisions
            converted = amp.convert_hybrid_block(
                net, target_dtype='bfloat16',
                fp32_ops=amp.list_fp32_ops(amp.amp.bfloat16) + list(BF16_FP32_OPERATORS),
                excluded_sym_names=[sym.name], ctx=ctx, cast_optional_params=True)
            sym = converted._cached_graph[1]
            params = {name: p.data(ctx) for name, p in converted.collect_params().items()}
        block = _symbol_block(_partition(sym, params, example), params, ctx)
    block.hybridize(static_alloc=True, static_shape=True)
    block(example).wait_to_read()  # builds the graph (ready to export) and fails here, if at all
    return block
