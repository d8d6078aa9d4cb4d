"""Package-level behaviour: a quiet import, a clear message without MXNet, the registry, and
the built wheel working from a fresh folder."""
import os
import shutil
import subprocess
import sys

import pytest

import gluon_aff
from helpers import requires

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def test_fusion_registry_has_the_paper_tags():
    """The twelve of Tables 3, 4 and 6, and the Fig. 7 baselines (SKNet, SENet, GAU)."""
    assert sorted(gluon_aff.FUSIONS) == sorted([
        'add', 'concat', 'ms_gau', 'ms_se', 'ms_sa', 'aff', 'iaff', 'gg', 'll', 'half_aff',
        'concat_aff', 'recursive_aff', 'sk', 'se', 'gau'])


def test_wheel_installs_and_runs_without_the_source_tree(tmp_path):
    """Build the wheel offline, install it with --no-deps into a fresh folder and, with the
    source tree off the path, run get_model, the paper tables and the demo's first epoch
    through the installed ``gluon-aff`` command."""
    pytest.importorskip('wheel', reason='building a wheel offline needs the wheel package '
                        '(requirements-common.txt)')
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'README.md'):
        shutil.copy(os.path.join(ROOT, name), str(src))
    shutil.copytree(os.path.join(ROOT, 'gluon_aff'), str(src / 'gluon_aff'),
                    ignore=shutil.ignore_patterns('__pycache__'))
    pip = [sys.executable, '-m', 'pip']
    build = subprocess.run(pip + ['wheel', '--no-deps', '--no-build-isolation', '--no-index',
                                  '-w', str(tmp_path / 'dist'), str(src)],
                           capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    wheel, = (tmp_path / 'dist').glob('gluon_aff-*.whl')
    site = tmp_path / 'site'
    install = subprocess.run(pip + ['install', '--no-deps', '--no-index', '--target', str(site),
                                    str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(site))       # the installed package only
    code = ('import os, gluon_aff; from gluon_aff.reproduce import load_paper_tables\n'
            'assert gluon_aff.__file__.startswith(%r), gluon_aff.__file__\n'
            'net = gluon_aff.get_model("cifar_aff_resnet32")\n'
            't = load_paper_tables()["tables"]\n'
            'print("TABLE5", t["table5"]["rows"]["aff_resnet50"]["top1_err"])\n' % str(site))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=300, env=env, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'TABLE5 20.9' in out.stdout                 # the paper's Table 5, AFF-ResNet-50
    requires('sklearn', "the demo's first epoch")
    demo = subprocess.run([str(site / 'bin' / 'gluon-aff'), 'demo', '--epochs', '1',
                           '--no-progress', '--save-dir', str(tmp_path / 'demo')],
                          capture_output=True, text=True, timeout=600, env=env,
                          cwd=str(tmp_path))
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert 'final val accuracy' in demo.stdout
    assert os.path.isfile(str(tmp_path / 'demo' / 'last.params'))
