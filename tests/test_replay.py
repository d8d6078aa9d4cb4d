"""Replaying the original's logged runs: every lr printed by every open-aff training log must
come out of ``scripts/reproduce.py replay --lr-trace`` at the same epoch and batch.

The reference is the original's own output: the Namespace lines and printed lr values of all 25
training logs it ships, kept in ``tests/data/openaff_logs`` (see its README for the source and
format). The tests rebuild logs in the original's line format from them, so the whole path
(parser, Namespace -> schedule, update counting, CLI) is exercised.
"""
import csv
import gzip
import importlib.util
import math
import os
import subprocess
import sys

import pytest

from gluon_aff.reproduce.openaff_logs import parse_log, parse_namespace, read_log
from gluon_aff.reproduce.replay import check_logged_lr, run_schedule

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, 'tests', 'data', 'openaff_logs')
FIXTURES = sorted(os.path.relpath(os.path.join(folder, name), DATA)
                  for folder, _, names in os.walk(DATA) for name in names
                  if name.endswith('.lr.gz'))
#: the original printed lr with %f: a faithful replay is within half a unit of the 6th decimal
PRINT_ROUNDING = 5e-7 + 1e-12


def load_fixture(rel):
    """``[(namespace line, [(epoch, batch or None, lr), ...]), ...]`` of one log."""
    runs = []
    with gzip.open(os.path.join(DATA, rel), 'rt') as f:
        for line in f:
            line = line.rstrip('\n')
            if 'Namespace(' in line:
                runs.append((line, []))
                continue
            epoch, first, step, *values = line.split()
            lr = 0
            for i, delta in enumerate(values):
                lr += int(delta)
                batch = None if first == '-' else int(first) + i * int(step)
                runs[-1][1].append((int(epoch), batch, lr * 1e-6))
    return runs


def original_lines(runs):
    """The runs as the original scripts logged them (metrics zeroed)."""
    lines = []
    for namespace, values in runs:
        lines.append(namespace)
        for epoch, batch, lr in values:
            if batch is None:
                lines.append('INFO:root:[Epoch %d] train=0.000000 val=0.000000 loss=0.000000 '
                             'lr: %f time: 1.000000' % (epoch, lr))
            else:
                lines.append('Epoch[%d] Batch [%d]\tSpeed: 100.000000 samples/sec\t'
                             'rmse=0.000000\tlr=%f' % (epoch, batch, lr))
    return lines


def test_all_logs_of_the_original_are_here():
    # 8 final CIFAR-100, 4 final ImageNet, 6 paper CIFAR, 7 paper ImageNet training logs
    assert len(FIXTURES) == 25
    assert sum(f.startswith('final/cifar100') for f in FIXTURES) == 8
    assert sum(f.startswith('final/imagenet') for f in FIXTURES) == 4
    assert sum(f.startswith('paper/imagenet') for f in FIXTURES) == 7


@pytest.mark.parametrize('rel', FIXTURES)
def test_every_printed_lr_is_replayed(rel):
    runs = load_fixture(rel)
    log = parse_log(original_lines(runs), path=rel)
    assert [s.namespace for s in log.segments] == [parse_namespace(ns) for ns, _ in runs]
    checked = 0
    for segment, (_, printed) in zip(log.segments, runs):
        assert segment.logged_lr() == [(e, b, pytest.approx(lr, abs=1e-12))
                                       for e, b, lr in printed]
        if not printed:
            continue
        result = check_logged_lr(segment)
        assert result.count == len(printed)
        assert result.max_abs_err <= 1e-5, (segment.index, result.worst)
        assert result.max_abs_err <= PRINT_ROUNDING, (segment.index, result.worst)
        checked += 1
    # the paper-version CIFAR script and the final one's first form printed no lr
    no_lr = rel.startswith('paper/cifar') or 'From_Scratch_Log_train_cifar100_cifar100-' \
        'ASKCFuse-resneXt-38' in rel
    assert (checked == 0) == no_lr


def test_log_structure_facts():
    """Facts the replay relies on (segments, defaults), checked on the original's Namespaces."""
    def log_of(rel):
        return parse_log(original_lines(load_fixture(rel)), path=rel)

    chain = log_of('final/cifar100/AFF-ResNeXt-47-32x4d/'
                   'train_cifar100-ASKCFuse-resneXt-47-32x4-c-4-s-1.lr.gz')
    assert len(chain.segments) == 6
    assert chain.default_segment() == 5        # the last run that trained (fine labels, 2 GPUs)
    assert not chain.segments[3].trained        # a --summary call
    assert chain.segment(-1).index == 5
    with pytest.raises(ValueError, match='no segment 6'):
        chain.segment(6)
    iaff = log_of('final/imagenet/iAFF-ResNeXt-50/iaff_resnext50.lr.gz')
    # the input-320 start never logged a batch; the 240-epoch run is at 224
    assert iaff.segments[0].namespace['input_size'] == 320 and not iaff.segments[0].trained
    assert iaff.default_segment() == 5 and iaff.segments[5].namespace['input_size'] == 224
    restarted = log_of('final/cifar100/AFF-ResNet-32/train_cifar100-ASKCFuse-resnet-32-c-4-s-1'
                       '.lr.gz')
    # a 4-GPU start that logged nothing, then the whole run on 2 GPUs (256 per update)
    assert [s.trained for s in restarted.segments] == [False, True]
    assert restarted.default_segment() == 1
    assert run_schedule(restarted.segment()).iters_per_epoch == 50000 // 256


def test_resumed_run_continues_the_saved_update_count():
    rel = 'paper/imagenet/sota/AFF-ResNet-50/resnet50_v1b_best_div16_resume.lr.gz'
    log = parse_log(original_lines(load_fixture(rel)))
    args = run_schedule(log.segment())
    # --resume-epoch 65 with the states saved after epoch 69: 70 epochs of 256-sample updates
    # through ImageRecordIter (1281167 = 5004 * 256 + 143; 5005 or 5004 batches per epoch)
    assert args.start_epoch == 65 and args.iters_per_epoch == 5004
    assert 70 * 5004 < args.start_update <= 70 * 5005
    fresh = run_schedule(log.segment())
    fresh.start_update = 65 * 5004            # as if the count followed --resume-epoch
    assert check_logged_lr(log.segment(), fresh).max_abs_err > 1e-3


SCRIPT = os.path.join(ROOT, 'scripts', 'reproduce.py')


def _cli(*argv):
    """``reproduce.py replay ARGV`` in a fresh interpreter: ``(exit status, stdout, stderr)``."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, SCRIPT, 'replay'] + list(argv), env=env,
                          capture_output=True, text=True)
    return done.returncode, done.stdout, done.stderr


def _cli_here(capsys, *argv):
    """The same in this process (saves an interpreter start): ``(status, stdout, stderr)``."""
    from gluon_aff.cli import run
    spec = importlib.util.spec_from_file_location('reproduce_script', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    try:
        status = run(module.main, ['replay'] + list(argv))
    except SystemExit as stop:            # argparse's exit (the script reports errors so)
        status = stop.code
    out, err = capsys.readouterr()
    return status, out, err


def _read_trace(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['epoch', 'batch', 'lr']
    return [(int(e), int(b), float(lr)) for e, b, lr in rows[1:]]


def test_cli_lr_trace_cifar_multi_run_plain_text(tmp_path, capsys):
    rel = 'final/cifar100/AFF-ResNet-32/superclasses/' \
          'From_Scratch_Log_train_cifar100_cifar100-ASKCFuse-resnet-32-c-4-s-1.lr.gz'
    runs = load_fixture(rel)
    log_path = tmp_path / 'train.log'
    log_path.write_text('\n'.join(original_lines(runs)) + '\n')
    out = tmp_path / 'lr.csv'
    # default: the last run that trained = segment 5, the warm-started cosine stage
    status, stdout, stderr = _cli_here(capsys, str(log_path), '--lr-trace', str(out))
    assert status == 0, stderr
    assert 'segment 5' in stdout
    trace = _read_trace(out)
    # 4 GPUs x 128 = 512 per update, 50000 // 512 = 97 updates in each of 640 epochs
    assert len(trace) == 640 * 97
    assert trace[:2] == [(0, 0, pytest.approx(0.2 / 1939)), (0, 1, pytest.approx(0.4 / 1939))]
    assert trace[96] == (0, 96, pytest.approx(0.2 * 97 / 1939))   # warm-up 20 epochs from 0
    # then cosine over the 620 * 97 remaining updates, from T = 1 at the first one of epoch 20
    assert trace[1940] == (20, 0, pytest.approx(0.1 * (1 + math.cos(math.pi / (620 * 97 - 1)))))
    last = {e: lr for e, b, lr in trace}
    for epoch, _, lr in runs[5][1]:
        assert abs(last[epoch] - lr) <= PRINT_ROUNDING
    # segment 4: the step-decay start (warm-up 20 -> decays shifted to 280, 430)
    status, _, stderr = _cli_here(capsys, str(log_path), '--segment', '4', '--lr-trace', str(out))
    assert status == 0, stderr
    step = _read_trace(out)
    lrs = {(e, b): lr for e, b, lr in step}
    assert lrs[(279, 96)] == pytest.approx(0.2) and lrs[(280, 0)] == pytest.approx(0.02)
    assert lrs[(429, 96)] == pytest.approx(0.02) and lrs[(430, 0)] == pytest.approx(0.002)


def test_cli_lr_trace_imagenet_gzip(tmp_path):
    rel = 'paper/imagenet/sota/AFF-ResNeXt-50-32x4d/resnext50_32x4d_aff_best.lr.gz'
    runs = load_fixture(rel)
    log_path = tmp_path / 'resnext50_32x4d_aff_best.log.gz'
    with gzip.open(str(log_path), 'wt') as f:
        f.write('\n'.join(original_lines(runs)) + '\n')
    out = tmp_path / 'lr.csv'
    status, _, stderr = _cli(str(log_path), '--lr-trace', str(out))
    assert status == 0, stderr
    trace = _read_trace(out)
    by_update = {(e, b): lr for e, b, lr in trace}
    # 1281167 samples, 512 per update, ImageRecordIter reset every epoch: 2503, 2502, 2502,
    # 2503, ... batches (each epoch starts after the samples that padded the previous one)
    lengths = [max(b for e, b, _ in trace if e == epoch) + 1 for epoch in range(4)]
    assert lengths == [2503, 2502, 2502, 2503]
    assert trace[-1][0] == 159 and len(trace) == sum(
        -(-(1281167 - o) // 512) for o in _offsets(1281167, 512, 160))
    printed = runs[3][1]
    assert len(printed) == 8000
    assert max(abs(by_update[(e, b)] - lr) for e, b, lr in printed) <= PRINT_ROUNDING


def _offsets(n, batch, epochs):
    offsets, offset = [], 0
    for _ in range(epochs):
        offsets.append(offset)
        batches = -(-(n - offset) // batch)
        offset = batches * batch - (n - offset)
    return offsets


def test_cli_errors_name_the_problem(tmp_path, capsys):
    out = str(tmp_path / 'x.csv')
    status, _, err = _cli_here(capsys, str(tmp_path / 'nope.log'), '--lr-trace', out)
    assert status == 2 and err.startswith('error: log file not found')
    best = tmp_path / 'cifar100_host_GPU_0_best_Acc.log'
    best.write_text('best Acc: 0.8967\n')
    assert read_log(str(best)).best_acc == [0.8967]
    status, _, err = _cli_here(capsys, str(best), '--segment', '0', '--lr-trace', out)
    assert status == 2 and 'best-accuracy file' in err
    log = tmp_path / 'one.log'
    log.write_text("Namespace(batch_size=128, dataset='cifar10', gpus='0', lr=0.1, "
                   "lr_decay=0.1, lr_decay_epoch='2', num_epochs=3)\n")
    status, _, err = _cli_here(capsys, str(log), '--segment', '1', '--lr-trace', out)
    assert status == 2 and 'has 1 segment(s)' in err and 'no segment 1' in err
    assert not os.path.exists(out)
    # without --lr-trace: the runs and the schedule, in words
    status, stdout, _ = _cli_here(capsys, str(log))
    assert status == 0 and 'segment 0 (line 1) [default]' in stdout
    assert 'x0.1 at the start of epochs [2]' in stdout
