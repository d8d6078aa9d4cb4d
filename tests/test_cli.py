"""The command-line layer: one set of flag names in every command, --help without noise, the
device/run/weights flags, one-line errors (exit 2) for known user errors and tracebacks for
bugs, the gluon-aff dispatcher and the scripts/ wrappers."""
import argparse
import os
import re
import subprocess
import sys

import mxnet as mx
import pytest

from command_helpers import fails_with
from gluon_aff import cli
from gluon_aff.commands import COMMANDS, command_main, main as gluon_aff_main
from gluon_aff.errors import UserError, UserNotice

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINERS = ('demo', 'train-cifar', 'train-imagenet', 'train-segmentation')
READERS = ('eval-cifar', 'eval-imagenet', 'eval-segmentation', 'predict-segmentation',
           'export', 'gradcam')
CUDA = mx.runtime.Features().is_enabled('CUDA')


def _help(name, capsys, argv=()):
    with pytest.raises(SystemExit) as stop:
        command_main(name)(list(argv) + ['--help'])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_every_command_has_help_without_default_noise(capsys):
    for name in COMMANDS:
        text = _help(name, capsys, ['plan'] if name == 'reproduce' else [])
        assert 'usage:' in text, name
        for noise in ('(default: True)', '(default: False)', '(default: None)',
                      '(default: )', '(default) (default'):
            assert noise not in text, (name, noise)
    assert '(default: 100)' in _help('train-cifar', capsys)   # real defaults still shown


def test_same_flag_names_in_every_command(capsys):
    for name in TRAINERS:
        text = _help(name, capsys)
        for flag in ('--save-dir DIR', '--resume [DIR]', '--overwrite'):
            assert flag in text, (name, flag)
    for name in TRAINERS[1:] + READERS[:-2]:
        assert '--gpus IDS' in _help(name, capsys), name
    for name in READERS:
        text = _help(name, capsys)
        for flag in ('--run DIR', '--params FILE', '--model NAME'):
            assert flag in text, (name, flag)
    # the old spellings are hidden aliases
    for name, old in (('eval-cifar', '--gpu '), ('predict-segmentation', '--gpu '),
                      ('eval-segmentation', '--checkpoint')):
        assert old not in _help(name, capsys), (name, old)


def test_help_formatter_hides_switch_and_empty_defaults():
    p = cli.make_parser('x')
    p.add_argument('--on', dest='flag', action='store_true', default=None, help='switch on')
    p.add_argument('--off', dest='flag', action='store_false', help='switch off')
    p.add_argument('--size', type=int, default=32, help='a size')
    p.add_argument('--name', default='', help='a name')
    text = p.format_help()
    assert 'switch on\n' in text and 'switch off\n' in text and '(default: 32)' in text
    assert 'a name\n' in text


def test_gpus(capsys):
    assert cli.parse_gpus('') == [mx.cpu()] and cli.parse_gpus(None) == [mx.cpu()]
    assert cli.parse_gpus('-1') == [mx.cpu()]
    with pytest.raises(UserError, match='comma-separated'):
        cli.parse_gpus('a,b')
    with pytest.raises(UserError, match='twice'):
        cli.parse_gpus('0,0')
    if CUDA:
        with pytest.raises(UserError, match='MXNet sees'):
            cli.parse_gpus(str(mx.context.num_gpus() + 3))
    else:
        with pytest.raises(UserError) as err:
            cli.parse_gpus('0')
        text = str(err.value)
        assert 'CPU build' in text and 'pip install -r requirements.txt' in text
        assert 'mxnet-cu112==1.9.1' in text and '\n' not in text
    # the hidden old spelling: --gpu N, -1 for the CPU
    parser = cli.add_device_flags(argparse.ArgumentParser())
    assert parser.parse_args(['--gpu', '-1']).gpus == ''
    assert parser.parse_args(['--gpu', '2']).gpus == '2'
    assert 'deprecated' in capsys.readouterr().err


def test_run_flags():
    parser = cli.add_run_flags(argparse.ArgumentParser())

    def flags(*argv, default=None):
        return cli.run_flags(parser.parse_args(list(argv)), default)
    assert flags('--save-dir', 'a') == ('a', False, False)
    assert flags('--resume', 'a') == ('a', True, False)
    assert flags('--resume', '--save-dir', 'a') == ('a', True, False)   # bare --resume
    assert flags('--resume', default='runs/x') == ('runs/x', True, False)
    assert flags('--save-dir', 'a', '--overwrite') == ('a', False, True)
    assert flags('--resume', 'a', '--save-dir', './a') == ('a', True, False)
    with pytest.raises(UserError, match='different folders'):
        flags('--resume', 'a', '--save-dir', 'b')
    with pytest.raises(UserError, match='one of them'):
        flags('--resume', 'a', '--overwrite')
    with pytest.raises(UserError, match='--save-dir'):
        flags()
    # a default folder does not clash with --resume DIR
    parser = cli.add_run_flags(argparse.ArgumentParser(), save_dir_default='runs/demo')
    assert flags() == ('runs/demo', False, False)
    assert flags('--resume', 'a') == ('a', True, False)
    assert flags('--resume') == ('runs/demo', True, False)
    assert '(default: runs/demo)' in parser.format_help()


def test_run_prints_user_errors_in_one_line_and_keeps_bug_tracebacks(capsys, monkeypatch):
    monkeypatch.delenv('GLUON_AFF_DEBUG', raising=False)

    def user(argv):
        raise UserError('no CIFAR-100 data in /nowhere')
    assert cli.run(user) == 2
    assert capsys.readouterr().err == 'error: no CIFAR-100 data in /nowhere\n'

    def bug(argv):
        raise ValueError('deep inside')
    with pytest.raises(ValueError, match='deep inside'):      # a bug: its traceback stays
        cli.run(bug)

    def interrupted(argv):
        raise KeyboardInterrupt
    assert cli.run(interrupted) == 130
    assert cli.run(lambda argv: {'best': 0.9}) == 0 and cli.run(lambda argv: 3) == 3
    capsys.readouterr()

    def notice(argv):
        import warnings
        warnings.warn('clipped', UserNotice)
        return 0
    assert cli.run(notice) == 0
    assert capsys.readouterr().err == 'warning: clipped\n'
    monkeypatch.setenv('GLUON_AFF_DEBUG', '1')
    with pytest.raises(UserError):
        cli.run(user)


def test_user_input_converts_only_outside_the_excluded_functions():
    with pytest.raises(UserError, match='ctx: bad value'):
        with cli.user_input('ctx'):
            raise ValueError('bad value')
    with pytest.raises(FileNotFoundError) as err:
        with cli.user_input():
            raise FileNotFoundError('no file x')
    assert isinstance(err.value, UserError)

    def loop():
        raise ValueError('a bug in the loop')
    with pytest.raises(ValueError) as err:
        with cli.user_input(except_in=(loop,)):
            loop()
    assert not isinstance(err.value, UserError)


def test_dispatcher(capsys):
    assert gluon_aff_main(['--help']) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert gluon_aff_main(['train-cfar']) == 2
    assert "unknown command 'train-cfar'" in capsys.readouterr().err
    assert gluon_aff_main([]) == 2


def test_scripts_are_thin_wrappers_and_nothing_edits_sys_path():
    names = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, 'scripts')) if f.endswith('.py'))
    assert sorted(n.replace('_', '-') for n in names) == sorted(COMMANDS)
    for folder in ('scripts', 'gluon_aff'):
        for base, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in files:
                if f.endswith('.py'):
                    text = open(os.path.join(base, f)).read()
                    assert not re.search(r'sys\.path\.(insert|append)', text), f
    for name in names:
        code = [line for line in open(os.path.join(ROOT, 'scripts', name + '.py'))
                if line.strip() and not line.startswith('#')]
        assert len(code) <= 10, name


def test_a_script_runs_as_documented(tmp_path):
    # python scripts/<name>.py, from another folder, with the package importable
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'reproduce.py'), 'plan',
                          '--tables', 'table3', '--tasks', 'cifar', '--cifar-gpus', ''],
                         capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    commands = [line for line in out.stdout.splitlines() if line.startswith('python ')]
    assert commands and not any('--gpus' in c for c in commands)      # a CPU plan


# ------------------------------------------------------------------ errors of the commands
def test_gpu_on_the_cpu_build_is_one_line(tmp_path, capsys):
    if CUDA:
        pytest.skip('this mxnet is the CUDA build')
    line = fails_with(command_main('train-cifar'),
                      ['--host', 'resnet', '--gpus', '0', '--save-dir', str(tmp_path / 'r')],
                      'CPU build', capsys)
    assert 'pip install -r requirements.txt' in line
    assert not os.path.exists(tmp_path / 'r')
    fails_with(command_main('eval-cifar'), ['--run', str(tmp_path), '--gpu', '0'], 'CPU build',
               capsys)


def test_demo_without_scikit_learn_is_one_line(tmp_path, capsys, monkeypatch):
    for module in ('sklearn', 'sklearn.datasets', 'sklearn.model_selection'):
        monkeypatch.setitem(sys.modules, module, None)   # import fails as if not installed
    line = fails_with(command_main('demo'), ['--save-dir', str(tmp_path / 'demo'),
                                             '--no-progress'], 'needs scikit-learn', capsys)
    assert '.[demo]' in line and not os.path.exists(str(tmp_path / 'demo'))


def test_export_errors_are_one_line_and_write_nothing(tmp_path, capsys, monkeypatch):
    export = command_main('export')
    out = tmp_path / 'out'
    garbage = tmp_path / 'garbage.params'
    garbage.write_bytes(b'not a parameter file\n' * 10)
    line = fails_with(export, ['cifar_aff_resnet_b1', '--params', str(garbage), '--out',
                               str(out)], str(garbage), capsys)
    assert 'is not an MXNet .params file' in line and 'Invalid NDArray file format' in line
    other = tmp_path / 'other.params'
    net = __import__('gluon_aff').get_model('cifar_add_resnet_b1')
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    net.save_parameters(str(other))
    line = fails_with(export, ['cifar_aff_resnet_b1', '--params', str(other), '--out', str(out)],
                      str(other), capsys)
    assert '--model' in line
    monkeypatch.setitem(sys.modules, 'onnx', None)          # onnx not installed
    line = fails_with(export, ['cifar_aff_resnet_b1', '--out', str(out), '--onnx'],
                      'pip install', capsys)
    assert 'onnx' in line and 'nothing was written' in line
    assert not out.exists()
    fails_with(export, ['--out', str(out)], 'nothing to export', capsys)
