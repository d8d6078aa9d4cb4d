"""Every command line of gluon-aff: ``gluon-aff <command> [flags]`` (``python -m gluon_aff``).

Each command is one module with ``main(argv=None)``; ``scripts/<name>.py`` is a thin wrapper
(``python scripts/train_cifar.py ...`` = ``gluon-aff train-cifar ...``). Flags shared by the
commands (devices, run folder, weights) come from :mod:`gluon_aff.cli`.
"""
import importlib
import os
import sys

__all__ = ['COMMANDS', 'main', 'script_main']

#: command -> (module with ``main``, one-line summary)
COMMANDS = {
    'demo': ('gluon_aff.commands.demo', 'train a small AFF-ResNet on handwritten digits, offline'),
    'train-cifar': ('gluon_aff.commands.train_cifar', 'train on CIFAR-100 (paper/final recipe)'),
    'eval-cifar': ('gluon_aff.commands.eval_cifar', 'CIFAR-100 test accuracy, per label'),
    'train-imagenet': ('gluon_aff.commands.train_imagenet', 'train on ImageNet (RecordIO)'),
    'eval-imagenet': ('gluon_aff.commands.eval_imagenet', 'ImageNet top-1/top-5 error'),
    'launch-dist': ('gluon_aff.training.distributed', 'run a command as a local '
                    'parameter-server job'),
    'make-stopsign': ('gluon_aff.commands.make_stopsign', 'build the StopSign set from COCO'),
    'train-segmentation': ('gluon_aff.commands.train_segmentation',
                           'train an FPN on StopSign'),
    'eval-segmentation': ('gluon_aff.commands.eval_segmentation', 'pixel accuracy and mIoU'),
    'predict-segmentation': ('gluon_aff.commands.predict_segmentation',
                             'prediction overlays as PNG'),
    'summary': ('gluon_aff.commands.summary', 'parameters and multiply-adds'),
    'export': ('gluon_aff.export', 'export to symbol/params and ONNX'),
    'gradcam': ('gluon_aff.commands.gradcam', 'Grad-CAM heatmaps (Fig. 6)'),
    'plot-curves': ('gluon_aff.commands.plot_curves', 'overlay the curves of runs'),
    'reproduce': ('gluon_aff.commands.reproduce', "the paper's tables: plan, status, report"),
}


def _usage():
    width = max(len(name) for name in COMMANDS)
    lines = ['usage: gluon-aff <command> [flags]   (gluon-aff <command> --help)', '',
             'commands:']
    lines += ['  %-*s  %s' % (width, name, summary) for name, (_, summary) in COMMANDS.items()]
    return '\n'.join(lines) + '\n'


def command_main(name):
    """The ``main`` function of command ``name``."""
    return importlib.import_module(COMMANDS[name][0]).main


def main(argv=None):
    """Console entry point ``gluon-aff``: dispatch to a command, return its exit status."""
    from ..cli import run
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        sys.stdout.write(_usage())
        return 0 if argv else 2
    name = argv[0].replace('_', '-')
    if name not in COMMANDS:
        sys.stderr.write('error: unknown command %r\n%s' % (argv[0], _usage()))
        return 2
    sys.argv[0] = 'gluon-aff %s' % name  # argparse's "usage: ..." names the command
    return run(command_main(name), argv[1:])


def script_main(path):
    """Body of ``scripts/<command>.py``: run that command with the process arguments."""
    from ..cli import run
    name = os.path.splitext(os.path.basename(path))[0].replace('_', '-')
    sys.exit(run(command_main(name)))
