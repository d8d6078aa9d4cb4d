"""The command-line layer shared by every command (``gluon-aff <command>``, ``scripts/*.py``).

Every command builds its parser with :func:`make_parser` and takes the same flags from the same
helpers, so they are spelled alike everywhere:

* :func:`add_device_flags` -- ``--gpus IDS`` (``0,1,2,3``; empty, the default: CPU), read with
  :func:`devices`. Asking for a GPU on the CPU build of MXNet is a one-line error naming the
  build and the install command.
* :func:`add_run_flags` -- ``--save-dir DIR``, ``--resume [DIR]`` (bare: the ``--save-dir``
  folder), ``--overwrite`` (the run already in the folder is moved aside to ``DIR.old-N``), read
  with :func:`run_flags`; the folder itself is a :class:`gluon_aff.training.Run`.
* :func:`add_checkpoint_flags` -- ``--run DIR`` (a run folder or a checkpoint prefix such as
  ``runs/x/last``) or ``--params FILE`` (+ ``--model NAME``, ``--model-kwargs JSON``), loaded
  with :func:`load_from_flags` (:func:`gluon_aff.training.load_run`).

:func:`run` calls a command's ``main(argv)``: a :class:`~gluon_aff.errors.UserError` becomes one
``error: ...`` line on stderr and exit status 2 (``GLUON_AFF_DEBUG=1`` shows its traceback); any
other exception is a bug and keeps its traceback. :func:`user_input` marks the calls whose
``ValueError``/``FileNotFoundError`` can only come from what the user gave (a data folder, a
model name, a recipe value).
"""
import argparse
import contextlib
import json
import os
import sys
import warnings

from .errors import MissingInputError, UserError, UserNotice

__all__ = ['run', 'json_object', 'make_parser', 'HelpFormatter', 'user_input',
           'add_device_flags', 'devices', 'parse_gpus', 'add_run_flags', 'run_flags',
           'add_checkpoint_flags', 'checkpoint_source', 'load_from_flags', 'check_image_files',
           'UserError', 'MissingInputError']

#: one line naming the CPU build and the command that installs the GPU one
CPU_BUILD_MESSAGE = (
    '--gpus %s asks for a GPU, but the installed mxnet is the CPU build (no CUDA): leave '
    '--gpus empty to run on the CPU, or install the GPU build with "pip uninstall -y mxnet && '
    'pip install -r requirements.txt" (mxnet-cu112==1.9.1; or GLUON_AFF_STACK=gpu bash '
    'bootstrap.sh setup)')


def run(main, argv=None):
    """Call ``main(argv)`` and return a process exit status.

    A :class:`~gluon_aff.errors.UserError` prints ``error: <message>`` on stderr and returns 2
    (``GLUON_AFF_DEBUG=1`` re-raises it with its traceback). Ctrl-C returns 130 (a training run
    has already logged where it stopped and how to resume). A non-integer result of ``main`` (a
    metrics dict...) counts as success. Any other exception propagates with its traceback.
    """
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _notice_printer(warnings.showwarning)
            result = main(argv)
    except UserError as err:
        if os.environ.get('GLUON_AFF_DEBUG'):
            raise
        sys.stderr.write('error: %s\n' % ' '.join(str(err).split('\n')))
        return 2
    except KeyboardInterrupt:
        sys.stderr.write('interrupted\n')
        return 130
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def _notice_printer(show_other):
    """A ``warnings.showwarning``: ``warning: ...`` for a :class:`UserNotice`, ``show_other``
    for any other warning."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, UserNotice):
            (file or sys.stderr).write('warning: %s\n' % message)
        else:
            show_other(message, category, filename, lineno, file, line)
    return show


@contextlib.contextmanager
def user_input(context=None, except_in=()):
    """Turn a ``ValueError``/``FileNotFoundError`` raised inside into a :class:`UserError`.

    For the calls that only validate or load what the user gave (a zoo name, a data folder, a
    recipe value, a trainer's set-up): their errors already name the bad value. ``context`` is
    prefixed to the message. Errors raised inside a function of ``except_in`` (e.g. the training
    loop :func:`gluon_aff.training.fit`) are left alone: there they are bugs, not input.
    """
    try:
        yield
    except UserError:
        raise
    except (FileNotFoundError, NotADirectoryError, ValueError) as err:
        codes = {getattr(f, '__code__', None) for f in except_in}
        tb = err.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code in codes:
                raise
            tb = tb.tb_next
        kind = UserError if isinstance(err, ValueError) else MissingInputError
        raise kind(_prefixed(context, err)) from err


def _prefixed(context, err):
    return '%s: %s' % (context, err) if context else str(err)


def json_object(text):
    """argparse ``type`` for a JSON object argument (e.g. ``--model-kwargs '{"r": 8}'``)."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError('not JSON: %s (%s)' % (text, err)) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('expected a JSON object {...}, got %s' % text)
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with ``(default: X)`` only where X says something: not on switches
    (``store_true``/``store_false``), not for ``None``/empty defaults, not twice."""

    def _get_help_string(self, action):
        text = action.help or ''
        if '%(default)' in text or action.default in (None, '', [], argparse.SUPPRESS) \
                or isinstance(action.default, bool) or action.nargs == 0:
            return text
        return super(HelpFormatter, self)._get_help_string(action)


def make_parser(description, **kwargs):
    """An ``ArgumentParser`` with :class:`HelpFormatter` (the first docstring line as
    description)."""
    kwargs.setdefault('formatter_class', HelpFormatter)
    return argparse.ArgumentParser(description=(description or '').strip().split('\n')[0],
                                   **kwargs)


class _DeprecatedAlias(argparse.Action):
    """A hidden old spelling: stores into the new flag's ``dest`` and says so on stderr."""

    def __init__(self, option_strings, dest, new=None, convert=None, **kwargs):
        kwargs['help'] = argparse.SUPPRESS
        super(_DeprecatedAlias, self).__init__(option_strings, dest, **kwargs)
        self.new, self.convert = new, convert

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stderr.write('warning: %s is deprecated; use %s\n' % (option_string, self.new))
        setattr(namespace, self.dest, self.convert(values) if self.convert else values)


def check_image_files(paths):
    """Raise :class:`UserError` naming the first of ``paths`` that is missing or not an image
    (checked before a command writes anything)."""
    from PIL import Image
    for path in paths:
        if not os.path.isfile(path):
            raise MissingInputError('image %s does not exist' % path)
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, ValueError, SyntaxError) as err:  # UnidentifiedImageError: OSError
            raise UserError('%s is not an image file that can be read (%s): give .jpg, .png, '
                            '... files' % (path, str(err).splitlines()[0] if str(err)
                                           else type(err).__name__)) from None


# --------------------------------------------------------------------------- devices
def add_device_flags(parser):
    """``--gpus IDS`` (empty: CPU); the old ``--gpu N`` (``-1``: CPU) is a hidden alias."""
    parser.add_argument('--gpus', default='', metavar='IDS',
                        help='GPU ids, e.g. 0 or 0,1,2,3; empty (the default): CPU')
    parser.add_argument('--gpu', dest='gpus', action=_DeprecatedAlias, new='--gpus',
                        convert=lambda v: '' if str(v).strip() == '-1' else str(v))
    return parser


def parse_gpus(gpus):
    """``'0,1'`` -> ``[gpu(0), gpu(1)]``; ``''``/``None``/``'-1'`` -> ``[cpu()]``.

    Raises :class:`UserError` for a malformed list, a GPU asked for on the CPU build of MXNet
    (naming the install command) or more GPUs than MXNet sees.
    """
    import mxnet as mx
    if gpus is None or str(gpus).strip() in ('', '-1', 'cpu'):
        return [mx.cpu()]
    try:
        ids = [int(g) for g in str(gpus).split(',') if g.strip()]
    except ValueError:
        raise UserError('--gpus must be a comma-separated list of GPU ids (e.g. 0,1), got %r'
                        % (gpus,)) from None
    if not ids or min(ids) < 0:
        raise UserError('--gpus must list GPU ids >= 0 (empty for the CPU), got %r' % (gpus,))
    if len(set(ids)) != len(ids):
        raise UserError('--gpus lists a GPU twice: %r' % (gpus,))
    if not mx.runtime.Features().is_enabled('CUDA'):
        raise UserError(CPU_BUILD_MESSAGE % gpus)
    available = mx.context.num_gpus()
    if max(ids) >= available:
        raise UserError('--gpus %s asks for GPU %d but MXNet sees %d GPU(s): give ids below %d'
                        % (gpus, max(ids), available, available))
    return [mx.gpu(i) for i in ids]


def devices(args):
    """The contexts of ``args.gpus`` (see :func:`parse_gpus`)."""
    return parse_gpus(args.gpus)


# --------------------------------------------------------------------------- run folder
def add_run_flags(parser, save_dir_default=None, save_dir_help=None):
    """``--save-dir DIR``, ``--resume [DIR]`` and ``--overwrite`` (see :func:`run_flags`).

    ``save_dir_default`` is used when neither ``--save-dir`` nor ``--resume DIR`` names a folder.
    """
    group = parser.add_argument_group('run folder')
    text = save_dir_help or 'run folder: checkpoints, train.log, metrics.jsonl, curves.png'
    if save_dir_default:
        text += ' (default: %s)' % save_dir_default
    group.add_argument('--save-dir', metavar='DIR', help=text)
    group.add_argument('--resume', nargs='?', const=True, default=False, metavar='DIR',
                       help='continue the run in DIR (bare --resume: the --save-dir folder) '
                       'from its last complete checkpoint')
    group.add_argument('--overwrite', action='store_true',
                       help='start afresh in a folder that holds a run: the old run is moved '
                       'aside to DIR.old-N (never deleted)')
    parser.set_defaults(save_dir_default=save_dir_default)
    return parser


def run_flags(args, default_save_dir=None):
    """``(save_dir, resume, overwrite)`` of the run flags.

    ``--resume DIR`` names the folder itself; a bare ``--resume`` continues ``--save-dir`` (or
    the default: ``default_save_dir``, else the one given to :func:`add_run_flags`). Raises
    :class:`UserError` for contradictory flags.
    """
    resume, save_dir = args.resume, args.save_dir
    if isinstance(resume, str):
        if save_dir and os.path.abspath(os.path.expanduser(save_dir)) != \
                os.path.abspath(os.path.expanduser(resume)):
            raise UserError('--resume %s and --save-dir %s name different folders: give the '
                            'folder once (--resume DIR)' % (resume, save_dir))
        save_dir = resume
    save_dir = save_dir or default_save_dir or getattr(args, 'save_dir_default', None)
    if not save_dir:
        raise UserError('no run folder: give --save-dir DIR (or --resume DIR)')
    from .training.run import check_run_flags
    check_run_flags(save_dir, resume, args.overwrite)
    return os.path.expanduser(save_dir), bool(resume), bool(args.overwrite)


# --------------------------------------------------------------------------- weights
def add_checkpoint_flags(parser, model_help=None):
    """``--run DIR`` or ``--params FILE`` (+ ``--model NAME`` and ``--model-kwargs JSON``).

    ``--checkpoint`` is a hidden old spelling of ``--run``.
    """
    group = parser.add_argument_group('weights (--run DIR, or --params FILE --model NAME)')
    group.add_argument('--run', metavar='DIR', help='a training run: its folder (best '
                       'checkpoint, else last) or a checkpoint prefix such as runs/x/last')
    group.add_argument('--checkpoint', dest='run', action=_DeprecatedAlias, new='--run')
    group.add_argument('--params', metavar='FILE', help='a .params file of gluon-aff or of the '
                       'original open-aff code; needs --model unless it is a checkpoint of a run')
    group.add_argument('--model', metavar='NAME', help=model_help or 'zoo name of the network '
                       'in --params, e.g. aff_resnet50')
    group.add_argument('--model-kwargs', type=json_object, default=None, metavar='JSON',
                       help='constructor arguments of --model, e.g. \'{"classes": 10}\'')
    return parser


def checkpoint_source(args):
    """The path the checkpoint flags name (``--run`` or ``--params``, exactly one)."""
    if args.run and args.params:
        raise UserError('give --run DIR or --params FILE, not both')
    if not (args.run or args.params):
        raise UserError('no weights: give --run DIR (a training run) or --params FILE with '
                        '--model NAME')
    return args.run or args.params


def load_from_flags(args, ctx=None):
    """``(net, state)`` of the checkpoint flags through :func:`gluon_aff.training.load_run`."""
    from .training.run import load_run
    return load_run(checkpoint_source(args), model=args.model, model_kwargs=args.model_kwargs,
                    ctx=ctx)
