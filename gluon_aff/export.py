"""Export zoo models for deployment: hybridized MXNet symbol + params, optionally ONNX.

``export_model('aff_resnet50', 'out')`` writes ``out/aff_resnet50-symbol.json`` and
``out/aff_resnet50-0000.params`` (``HybridBlock.export``), loadable with
``mx.gluon.SymbolBlock.imports``; with ``onnx=True`` also ``out/aff_resnet50.onnx`` through
``mx.onnx.export_model`` (needs the ``onnx`` package; 1.13.1 is the pinned version: MXNet 1.9.1
exports at the installed onnx's highest opset, and onnx 1.14's opset 19 ``AveragePool`` is not
implemented by onnxruntime 1.15).
"""
from __future__ import division

import contextlib
import io
import os

__all__ = ['export_model', 'main']


def _fill_fixed_gammas(net):
    """Set the gamma of every ``BatchNorm(scale=False)`` (``fix_gamma``) to one.

    MXNet's op ignores such a gamma, ONNX's ``BatchNormalization`` (as exported by MXNet 1.9.1)
    applies it; with ones both compute the same. Checkpoints trained by Gluon already hold ones
    there, files filled otherwise (e.g. the seeded manifests) do not.
    """
    import mxnet as mx

    def visit(block):
        if isinstance(block, mx.gluon.nn.BatchNorm) and block._kwargs.get('fix_gamma'):
            gamma = block.gamma
            gamma.set_data(mx.nd.ones(gamma.shape, dtype=gamma.dtype))
    net.apply(visit)


def _require_onnx():
    """Raise a one-line :class:`~gluon_aff.errors.UserError` when the onnx package is missing."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        from .errors import UserError
        raise UserError('ONNX export needs the onnx package: pip install --no-deps -r '
                        'requirements-onnx.txt (onnx==1.13.1, as bootstrap.sh does); nothing '
                        'was written') from None


def export_model(name, out_dir, params=None, input_shape=None, onnx=False, ctx=None, net=None,
                 precision=None, calib_data=None):
    """Hybridize and export zoo model ``name``.

    Parameters
    ----------
    name : str
        Zoo name.
    out_dir : str
        Output folder (created).
    params : str, optional
        Weights to export: a gluon-aff or original open-aff ``.params`` file (any layout
        :func:`gluon_aff.model_zoo.convert.load_original` reads). Default: Xavier-initialised.
    input_shape : tuple, optional
        ``(N, C, H, W)`` fixed in the ONNX graph; default the model's input size, batch 1.
    onnx : bool, default False
        Also write ``{name}.onnx`` (the onnx package is checked before anything is written).
    net : HybridBlock, optional
        The network ``name`` with its weights already loaded (e.g. by
        :func:`gluon_aff.training.load_run`), instead of building it and loading ``params``.
    precision : {None, 'fp32', 'bf16', 'int8'}
        Export the CPU inference graph of :func:`gluon_aff.deploy.optimize` at this precision
        (MKLDNN-fused, needs MXNet's CPU build to load) instead of the plain graph; not with
        ``onnx``.
    calib_data : list of NDArray, optional
        Calibration batches for ``precision='int8'``.

    Returns
    -------
    dict
        Paths: ``symbol``, ``params`` and (with ``onnx``) ``onnx``.
    """
    import mxnet as mx
    import numpy as np
    from .model_zoo import get_model
    from .model_zoo.convert import load_original
    from .summary import default_input_shape
    if onnx:
        _require_onnx()
    ctx = ctx or mx.cpu()
    if precision and onnx:
        from .errors import UserError
        raise UserError('ONNX export takes the plain float32 graph; --precision %s is for '
                        'MXNet CPU deployment' % precision)
    loaded = net is not None
    net = net if loaded else get_model(name)
    shape = tuple(input_shape) if input_shape else default_input_shape(name, net)
    if params and not loaded:
        load_original(net, params, ctx=ctx, input_shape=shape)
    elif not loaded:
        net.initialize(mx.init.Xavier(), ctx=ctx)
    net.hybridize()
    net(mx.nd.zeros(shape, ctx=ctx))
    _fill_fixed_gammas(net)
    if precision:
        from .deploy import optimize
        net = optimize(net, mx.nd.zeros(shape, ctx=ctx), precision, calib_data)
    os.makedirs(out_dir, exist_ok=True)
    prefix = os.path.join(out_dir, name + ('-' + precision if precision else ''))
    net.export(prefix, epoch=0, remove_amp_cast=False)
    paths = dict(symbol=prefix + '-symbol.json', params=prefix + '-0000.params')
    if onnx:
        # MXNet's converter prints node names of some scalar ops; keep stdout clean
        with contextlib.redirect_stdout(io.StringIO()):
            paths['onnx'] = mx.onnx.export_model(paths['symbol'], paths['params'], [shape],
                                                 np.float32, prefix + '.onnx')
    return paths


def _calib_batches(path, batch_size=32):
    """The ``(N, 3, H, W)`` array in ``path`` (.npy) as a list of NDArray batches."""
    import mxnet as mx
    import numpy as np
    from .errors import MissingInputError, UserError
    if not os.path.isfile(path):
        raise MissingInputError('calibration file %s not found' % path)
    images = np.load(path)
    if images.ndim != 4 or images.shape[1] != 3:
        raise UserError('%s must hold an (N, 3, H, W) array of inputs, got shape %s'
                        % (path, images.shape))
    return [mx.nd.array(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]


def main(argv=None):
    """``gluon-aff export [MODEL] --out DIR [--run DIR | --params FILE] [--onnx]
    [--precision fp32|bf16|int8 [--calib FILE.npy]]``."""
    from .cli import (UserError, add_checkpoint_flags, load_from_flags, make_parser,
                      user_input)
    from .deploy import PRECISIONS
    parser = make_parser('Export a gluon-aff model (symbol/params, ONNX).')
    parser.add_argument('name', nargs='?', metavar='MODEL',
                        help='zoo name, e.g. aff_resnet50 (Xavier weights without --params)')
    add_checkpoint_flags(parser)
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--input-size', type=int, default=None,
                        help='square input size of the ONNX graph (default: model input size)')
    parser.add_argument('--onnx', action='store_true', help='also write MODEL.onnx')
    parser.add_argument('--precision', choices=PRECISIONS, default=None,
                        help='export the CPU inference graph (gluon_aff.deploy) at this precision')
    parser.add_argument('--calib', default=None, metavar='FILE.npy',
                        help='int8 calibration inputs: an (N, 3, H, W) float32 array, '
                             'preprocessed like the real inputs')
    args = parser.parse_args(argv)
    if args.name and args.model and args.name != args.model:
        raise UserError('MODEL %s and --model %s differ: give the name once'
                        % (args.name, args.model))
    args.model = args.model or args.name
    if args.onnx:
        _require_onnx()
    net = None
    if args.run or args.params:
        net, state = load_from_flags(args)
        args.model = state['model']['name']
    elif not args.model:
        raise UserError('nothing to export: give MODEL, --run DIR or --params FILE --model NAME')
    shape = (1, 3, args.input_size, args.input_size) if args.input_size else None
    calib = _calib_batches(args.calib) if args.calib else None
    with user_input():
        paths = export_model(args.model, args.out, input_shape=shape, onnx=args.onnx, net=net,
                             precision=args.precision, calib_data=calib)
    for kind, path in paths.items():
        print('%-6s %s' % (kind, path))
    return 0


if __name__ == '__main__':
    from .cli import run
    raise SystemExit(run(main))
