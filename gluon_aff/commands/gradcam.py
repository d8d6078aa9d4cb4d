"""Grad-CAM heatmaps (paper Fig. 6) of one or more networks, side by side.

  gluon-aff gradcam --model add_resnet50 --params r50.params \\
      --model aff_resnet50 --params aff_r50.params --out gradcam/ cat.jpg dog.jpg
  gluon-aff gradcam --run runs/cifar_aff_resnet32-coarse-final --out gradcam/ img.png

Each network is a ``--run DIR`` (a training run or checkpoint prefix) or a ``--model NAME`` with
the ``--params FILE`` that follows it (or ``--pretrained`` for all, looked up in
~/.mxnet/models). Writes ``<image>_gradcam.png`` (input + one overlay per network, predicted
class and softmax score in the titles) and ``<image>_<model>.png`` per network.
"""
import argparse
import os

import mxnet as mx

from ..cli import (UserError, check_image_files, make_parser, MissingInputError, user_input)
from ..gradcam import compare_models
from ..training.run import load_run


class _Ordered(argparse.Action):
    """Collect ``--run``/``--model``/``--params`` in command-line order into ``sources``."""

    def __call__(self, parser, namespace, values, option_string=None):
        sources = list(getattr(namespace, 'sources', None) or [])
        sources.append((self.dest, values))
        namespace.sources = sources


def parse_args(argv=None):
    p = make_parser(__doc__)
    p.add_argument('images', nargs='+', help='image files')
    g = p.add_argument_group('networks (repeatable, shown in this order)')
    g.add_argument('--run', dest='run', action=_Ordered, metavar='DIR',
                   help='a training run folder or checkpoint prefix')
    g.add_argument('--model', dest='model', action=_Ordered, metavar='NAME',
                   help='a zoo name; its weights come from the --params that follows it')
    g.add_argument('--params', dest='params', action=_Ordered, metavar='FILE',
                   help='.params file of the preceding --model')
    g.add_argument('--pretrained', action='store_true', help="load every --model's zoo weights")
    g.add_argument('--random-init', action='store_true',
                   help='allow random weights (smoke tests only: the heatmaps mean nothing)')
    p.add_argument('--layer', action='append', default=[],
                   help='structural layer name per network (default: last stage)')
    p.add_argument('--classes', type=int, help='number of classes of --params files')
    p.add_argument('--class-id', type=int, help='explain this class (default: predicted)')
    p.add_argument('--class-names', help='text file, one class name per line')
    p.add_argument('--out', default='gradcam', help='output directory')
    p.set_defaults(sources=[])
    return p.parse_args(argv)


def networks(args):
    """``[(kind, value, params)]`` of the command line, in order: ``('run', DIR, None)`` or
    ``('model', NAME, FILE or None)``."""
    entries = []
    for kind, value in args.sources:
        if kind == 'params':
            if not entries or entries[-1][0] != 'model' or entries[-1][2] is not None:
                raise UserError('--params %s must follow its --model NAME' % value)
            entries[-1] = ('model', entries[-1][1], value)
        else:
            entries.append((kind, value, None))
    if not entries:
        raise UserError('no network: give --run DIR, or --model NAME --params FILE')
    loose = [name for kind, name, params in entries if kind == 'model' and params is None]
    if loose and not (args.pretrained or args.random_init):
        raise UserError('no weights for %s: give --params FILE after each --model, --pretrained, '
                        'or --run DIR (--random-init only for smoke tests)' % ', '.join(loose))
    return entries


def build(kind, value, params, args):
    """``(zoo name, network)`` of one entry of :func:`networks`."""
    if kind == 'run' or params:
        kwargs = {'classes': args.classes} if args.classes and kind == 'model' else None
        net, state = load_run(value if kind == 'run' else params,
                              model=value if kind == 'model' else None, model_kwargs=kwargs)
        return state['model']['name'], net
    from ..model_zoo import get_model
    with user_input():
        net = get_model(value, pretrained=args.pretrained,
                        **({'classes': args.classes} if args.classes else {}))
    if not args.pretrained:
        net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    return value, net


def main(argv=None):
    args = parse_args(argv)
    entries = networks(args)
    if args.layer and len(args.layer) not in (1, len(entries)):
        raise UserError('give one --layer for all networks or one per network')
    check_image_files(args.images)
    names = None
    if args.class_names:
        if not os.path.isfile(args.class_names):
            raise MissingInputError('class names file %s does not exist' % args.class_names)
        with open(args.class_names) as f:
            names = [line.strip() for line in f if line.strip()]
    models = []
    for i, entry in enumerate(entries):
        name, net = build(*entry, args=args)
        layer = (args.layer[i] if len(args.layer) > 1 else args.layer[0]) if args.layer else None
        models.append((name, net, layer))
    with user_input():  # a --layer or --class-id that does not fit the network
        written = compare_models(models, args.images, args.out, args.class_id, names)
    for path in written:
        print(path)
    return 0
