"""Shared entry point of the scripts: user errors become one clear line, not a traceback."""
import argparse
import json
import os
import sys

__all__ = ['run', 'json_object']


def _user_errors():
    from .training.runlog import NonFiniteLossError
    return (FileNotFoundError, NotADirectoryError, ValueError, NonFiniteLossError)




def run(main, argv=None):
    """Call ``main(argv)`` and return a process exit status.

    A bad input (``FileNotFoundError``, ``ValueError``, a NaN loss...) prints ``error: <message>``
    on stderr and returns 2; ``GLUON_AFF_DEBUG=1`` re-raises it with its traceback. Ctrl-C
    returns 130 (checkpoints are atomic: rerun with ``--resume``). A non-integer result of
    ``main`` (a metrics dict...) counts as success.
    """
    try:
        result = main(argv)
    except _user_errors() as err:
        if os.environ.get('GLUON_AFF_DEBUG'):
            raise
        sys.stderr.write('error: %s\n' % err)
        return 2
    except KeyboardInterrupt:
        sys.stderr.write('interrupted; the last complete checkpoint is kept (resume with '
                         '--resume where the script has it)\n')
        return 130
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def json_object(text):
    """argparse ``type`` for a JSON object argument (e.g. ``--model-kwargs '{"r": 8}'``)."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError('not JSON: %s (%s)' % (text, err)) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('expected a JSON object {...}, got %s' % text)
    return value
