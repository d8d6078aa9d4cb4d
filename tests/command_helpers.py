"""Driving the commands in-process the way the command line does (``gluon_aff.cli.run``)."""
import os

from gluon_aff.cli import run


def fails_with(main, argv, message, capsys):
    """``main(argv)`` exits with status 2, its last stderr line is ``error: ...`` containing
    ``message``, and no traceback is printed. Returns that line."""
    os.environ.pop('GLUON_AFF_DEBUG', None)
    capsys.readouterr()
    status = run(main, argv)
    err = capsys.readouterr().err
    assert status == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith('error: ') and message in last, err
    assert 'Traceback' not in err, err
    return last
