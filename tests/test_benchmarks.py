"""The benchmarks run (tiny configurations; speed is measured by running them, never here):
the ratio arithmetic against hand-computed values, run_all --quick, the per-operator profile,
the golden drift report and gpu_check.py --dry-run on the CPU."""
import json
import os
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, 'benchmarks')
sys.path.insert(0, BENCH)
# the benchmark modules set MXNet/OpenMP variables when imported (OMP_WAIT_POLICY, bulk
# execution off in profile_ops): they must not reach the later tests' subprocesses
_ENVIRONMENT = dict(os.environ)
import timing  # noqa: E402
os.environ.clear()
os.environ.update(_ENVIRONMENT)


@pytest.fixture(autouse=True)
def _restore_environment():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_ratios_by_hand():
    # base 2 s, 4 s, 3 s per step; model 4 s, 5 s, 6 s: per-round speed ratios 0.5, 0.8, 0.5
    times = {'base': {'wall': [2.0, 4.0, 3.0], 'cpu': [1.0, 1.0, 1.0]},
             'model': {'wall': [4.0, 5.0, 6.0], 'cpu': [2.0, 1.0, 4.0]}}
    assert timing.ratio(times, 'model', 'base', 'wall') == pytest.approx((0.5, 0.5, 0.8))
    assert timing.ratio(times, 'model', 'base', 'cpu') == pytest.approx((0.5, 0.25, 1.0))
    assert timing.format_ratio(times, 'model', 'base') == \
        '0.500 (0.500-0.800) | cpu 0.500 (0.250-1.000)'
    assert timing.per_second(times, 'model', batch=10) == pytest.approx(2.0)  # median 5 s


def _run(args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable] + args, cwd=ROOT, env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_run_all_quick_prints_every_section(tmp_path):
    path = tmp_path / 'results.md'
    out = _run([os.path.join(BENCH, 'run_all.py'), '--quick', '--out', str(path)])
    assert path.read_text() == out
    for title in ('fp32 against cifar_add_resnet_b1', 'Peak memory', 'CPU deployment'):
        assert title in out
    rows = [line for line in out.splitlines() if line.startswith('| ')]
    # the baseline's own ratio is exactly one; every listed model has a row
    assert '| infer | cifar_add_resnet_b1 |' in out and '1.000 (1.000-1.000)' in out
    for name in ('cifar_aff_resnet_b1', 'cifar_iaff_resnet_b1', 'deploy int8',
                 'bf16 AMP train'):
        assert any(name in row for row in rows), name
    # the memory profiler writes its trace to a temporary file, never over /dev/null
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_profile_table_lists_the_fusion_operators():
    import profile_ops
    lines = profile_ops.profile_table('cifar_aff_resnet_b1', 'cifar_add_resnet_b1', 2, 32,
                                      ('infer',), iters=1, min_ms=0)
    text = '\n'.join(lines)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert '| Convolution |' in text and '**all operators**' in text
    # the attention's operators exist only in the AFF model: zero calls in the add twin
    assert any(line.startswith('| batch_dot |') and line.split('|')[5].strip() == '0'
               for line in lines)


def test_golden_drift_reports_within_tolerance(capsys):
    import golden_drift
    assert golden_drift.main(['^cifar_aff_resnet_b1$']) == 0
    out = capsys.readouterr().out
    assert 'cifar_aff_resnet_b1' in out and 'worst:' in out


def test_gpu_check_dry_run_on_cpu(tmp_path):
    path = tmp_path / 'gpu.json'
    out = _run([os.path.join(BENCH, 'gpu_check.py'), '--dry-run', '--out', str(path)])
    report = json.loads(path.read_text())
    assert report['dry_run'] and report['fp16_step']['ok'] and report['amp_step']['ok']
    assert report['dist_sync']['ok'] and len(report['dist_sync']['workers']) == 2
    assert {(r['dtype'], r['phase'], r['model']) for r in report['throughput']} == {
        (d, p, m) for d in ('float32', 'float16') for p in ('train', 'infer')
        for m in ('add_resnet50', 'aff_resnet50', 'iaff_resnet50')}
    assert all(r['ratio'] == 1.0 for r in report['throughput'] if r['model'] == 'add_resnet50')
    assert '| aff / add | iaff / add |' in out
