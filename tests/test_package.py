"""Package-level behaviour: a quiet import, a clear message without MXNet, the registry."""
import subprocess
import sys

import gluon_aff


def _python(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120)


def test_import_prints_nothing_and_loads_no_heavy_extras():
    proc = _python('import sys, gluon_aff; '
                   'print(sorted(m for m in ("gluoncv", "matplotlib", "tqdm") if m in sys.modules))')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '[]'
    assert proc.stderr == ''


def test_import_without_mxnet_names_both_install_commands():
    proc = _python('import sys; sys.modules["mxnet"] = None; import gluon_aff')
    assert proc.returncode != 0
    assert 'mxnet==1.9.1' in proc.stderr and 'mxnet-cu112==1.9.1' in proc.stderr
    assert 'requirements-cpu.txt' in proc.stderr and 'requirements.txt' in proc.stderr


def test_model_list_covers_every_manifest():
    from helpers import manifest_names
    assert set(manifest_names()) <= set(gluon_aff.get_model_list())


def test_fusion_registry_has_the_twelve_paper_tags():
    assert sorted(gluon_aff.FUSIONS) == sorted([
        'add', 'concat', 'ms_gau', 'ms_se', 'ms_sa', 'aff', 'iaff', 'gg', 'll', 'half_aff',
        'concat_aff', 'recursive_aff'])


def test_cli_turns_user_errors_into_one_line(capsys, monkeypatch):
    from gluon_aff.cli import run
    monkeypatch.delenv('GLUON_AFF_DEBUG', raising=False)

    def bad(argv):
        raise FileNotFoundError('no CIFAR-100 data in /nowhere')
    assert run(bad) == 2
    assert capsys.readouterr().err == 'error: no CIFAR-100 data in /nowhere\n'
    assert run(lambda argv: {'best': 0.9}) == 0
    assert run(lambda argv: 3) == 3
