"""What the README promises: its Python blocks run as written, and every command it shows is a
command of gluon-aff whose flags parse."""
import argparse
import os
import re
import shlex
import subprocess
import sys

import pytest

from gluon_aff.commands import COMMANDS, command_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')


def _blocks(language):
    text = open(README).read()
    return re.findall(r'```%s\n(.*?)```' % language, text, re.S)


def test_python_blocks_run_as_written(tmp_path):
    blocks = _blocks('python')
    assert len(blocks) >= 2
    for block in blocks:
        # a fresh HOME: no weights under ~/.mxnet/models, nothing of the developer's
        env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=ROOT + os.pathsep +
                   os.environ.get('PYTHONPATH', ''))
        out = subprocess.run([sys.executable, '-c', block], capture_output=True, text=True,
                             cwd=str(tmp_path), env=env, timeout=300)
        assert out.returncode == 0, block + out.stderr[-2000:]


def _commands():
    """``(command name, argv)`` of every gluon-aff / scripts command line in the README."""
    text = open(README).read()
    lines = []
    for block in _blocks('bash'):
        lines += [line for line in block.replace('\\\n', ' ').splitlines()]
    lines += re.findall(r'`([^`\n]+)`', re.sub(r'```.*?```', '', text, flags=re.S))
    found = []
    for line in lines:
        line = line.split('#')[0].strip()
        match = re.match(r'(?:\S*/)?(?:gluon-aff (\S+)|python scripts/(\w+)\.py)(.*)$', line)
        if match and (match.group(1) or match.group(2)):
            name = (match.group(1) or match.group(2)).replace('_', '-')
            found.append((name, shlex.split(match.group(3))))
    return found


class _Parsed(Exception):
    pass


def test_every_command_shown_exists_and_its_flags_parse(monkeypatch):
    commands = _commands()
    assert {name for name, _ in commands} >= {'train-cifar', 'eval-cifar', 'train-imagenet',
                                              'eval-imagenet', 'export', 'gradcam', 'reproduce'}
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        result = parse(self, args, namespace)
        raise _Parsed(result)
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', parse_then_stop)
    for name, argv in commands:
        if not argv or argv == ['--help'] or name in ('--help', '<command>'):
            continue                                    # a mention, not a command line
        assert name in COMMANDS, name
        with pytest.raises(_Parsed):
            command_main(name)(argv)
