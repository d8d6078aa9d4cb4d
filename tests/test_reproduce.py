"""Reproduction tables, run plan, status rule and report, against hand-typed paper values and
generated metrics files with known content."""
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import load_manifest
from gluon_aff.reproduce import (DONE, NOT_RUN, RUNNING, STOPPED, format_plan,
                                 load_paper_tables, make_plan, parse_shard, run_result,
                                 training_cells, write_report)
from gluon_aff.training import Run
from gluon_aff.reproduce.report import build_report, model_parameters

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Tables 3, 4 and 6 of the paper, copied verbatim (source named in the file)
PAPER = os.path.join(ROOT, 'tests', 'data', 'paper_tables_excerpt.md')


def _cell(cells, cell_id):
    return next(c for c in cells if c.cell_id == cell_id)


def test_cells_hold_values_typed_again_from_the_paper():
    """The project's table cells (values, zoo model, task, metric) against values typed by hand
    from the paper's Tables 3-6."""
    cells = training_cells(['table3', 'table4', 'table5', 'table6'])
    gg = _cell(cells, 'table3/gg/resnet_cifar/b3')
    assert (gg.paper, gg.run.model, gg.run.task, gg.metric) == (
        0.811, 'cifar_gg_resnet_b3', 'cifar', 'val_acc')
    ll = _cell(cells, 'table3/ll/resnet_imagenet')
    assert (ll.paper, ll.run.model, ll.run.task) == (0.780, 'll_resnet50_paper', 'imagenet')
    fpn = _cell(cells, 'table4/concat/fpn_stopsign/b4')
    assert (fpn.paper, fpn.run.model, fpn.run.task, fpn.metric) == (
        0.939, 'fpn_concat_resnet_b4', 'segmentation', 'val_miou')
    inception = _cell(cells, 'table4/ms_se/inception_cifar/b2')
    assert (inception.paper, inception.run.model) == (0.780, 'cifar_ms_se_inception_resnet_b2')
    assert _cell(cells, 'table4/iaff/resnet_cifar/b4').paper is None      # printed as '/'
    assert _cell(cells, 'table5/iaff_resnext50_32x4d').paper == 20.2
    assert [_cell(cells, 'table6/concat_aff/resnet_cifar/b%d' % b).paper
            for b in (1, 2, 3)] == [0.765, 0.792, 0.817]
    assert _cell(cells, 'table6/half_aff/resnet_cifar/b1').run.mixup    # the supplement's mixup


def test_every_ablation_number_matches_the_paper_text():
    text = open(PAPER).read()
def test_plan_commands_are_exact_and_runs_shared():
    entries = make_plan(tables=['table3', 'table4', 'table6'], tasks=['cifar'],
                        data_dirs={'cifar': '/data/c100'})
    by_name = {e.name: e for e in entries}
    assert len(by_name) == len(entries)
    e = by_name['cifar_gg_resnet_b1-paper-coarse-s0']
    assert e.command == ('python scripts/train_cifar.py --model cifar_gg_resnet_b1 --labels '
                         'coarse --recipe paper --seed 0 --gpus 0 --save-dir '
                         'runs/cifar_gg_resnet_b1-paper-coarse-s0 --data-dir /data/c100')
    # AFF ResNet b=1 fills Table 3 and Table 4 with one run; Table 6 trains with mixup
    aff = by_name['cifar_aff_resnet_b1-paper-coarse-s0']
    assert [c.cell_id for c in aff.cells] == ['table3/aff/resnet_cifar/b1',
                                              'table4/aff/resnet_cifar/b1']
    mix = by_name['cifar_aff_resnet_b1-paper-coarse-mixup-s0']
    assert '--mixup' in mix.argv and mix.epochs == 400
    # 3 rows x 2 hosts x 4 b (Table 3) + 6 new rows x 2 hosts x 4 b (Table 4; iAFF ResNet b4,
    # printed '/', is planned too) + 5 rows x 3 b (Table 6)
    assert len(entries) == 24 + 6 * 8 + 15
    imagenet = make_plan(tables=['table5'], seeds=[0, 1])
    assert [e.name for e in imagenet][:2] == ['aff_resnet50-final-s0', 'aff_resnet50-final-s1']
    assert '--gpus 0,1,2,3' in imagenet[0].command and '--recipe final' in imagenet[0].command


def test_shards_partition_the_plan_and_formats():
    full = [e.name for e in make_plan()]
    shards = [[e.name for e in make_plan(shard=(k, 3))] for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(full)
    with pytest.raises(ValueError, match='K/N'):
        parse_shard('4/3')
    jobs = [json.loads(line) for line in
            format_plan(make_plan(tables=['released']), 'jobs').splitlines()]
    assert jobs[0]['name'] == 'cifar_aff_resnet32-final-coarse-s0' and jobs[0]['epochs'] == 640
    assert {j['gpus'] for j in jobs} == {1, 4}
    script = format_plan(make_plan(tables=['table5']), 'sh')
    assert script.startswith('#!/usr/bin/env bash') and 'status --epochs 240' in script
    with pytest.raises(ValueError, match='tableX'):
        make_plan(tables=['tableX'])


def _write_metrics(run_dir, values, key='val_acc'):
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, 'metrics.jsonl'), 'w') as f:
        for epoch, value in enumerate(values):
            f.write(json.dumps({'epoch': epoch, 'train_loss': 1.0 / (epoch + 1), key: value,
                                'lr': 0.1}) + '\n')


def test_status_rule(tmp_path):
    d = str(tmp_path / 'r')
    assert run_result(d, 4).status == NOT_RUN
    with Run(d, console=False):                          # a live process holds run.lock
        assert run_result(d, 4).status == RUNNING      # started, no epoch finished yet
        _write_metrics(d, [0.1, 0.3, 0.2])
        r = run_result(d, 4)
        assert (r.status, r.epochs_done, r.best('val_acc')) == (RUNNING, 3, 0.3)
    r = run_result(d, 4)                                 # the process ended: a partial run
    assert (r.status, r.epochs_done, r.best('val_acc')) == (STOPPED, 3, 0.3)
    assert run_result(d, 3).status == DONE
    open(os.path.join(d, 'done'), 'w').close()
    assert run_result(d, 4).status == DONE
    env = dict(os.environ, PYTHONPATH=ROOT)
    cli = [sys.executable, os.path.join(ROOT, 'scripts', 'reproduce.py'), 'status', '--epochs']
    assert subprocess.call(cli + ['4', d], env=env, stdout=subprocess.DEVNULL) == 0
    assert subprocess.call(cli + ['4', d + 'x'], env=env, stdout=subprocess.DEVNULL) == 1


def test_report_values_status_and_never_made_up(tmp_path):
    runs = tmp_path / 'runs'
    # done, 4 planned epochs: best 0.80 (not the last value)
    _write_metrics(str(runs / 'cifar_aff_resnet_b1-paper-coarse-s0'), [0.5, 0.8, 0.7, 0.75])
    # stopped after 2 of 4 epochs (no live process)
    _write_metrics(str(runs / 'cifar_gg_resnet_b1-paper-coarse-s0'), [0.4, 0.6])
    # ImageNet AFF-ResNet-50 done: best top-1 acc 0.79 -> 21.00 % error
    _write_metrics(str(runs / 'aff_resnet50-final-s0'), [0.7, 0.79, 0.78, 0.785])
    md, html = write_report(str(runs), str(tmp_path / 'rep' / 'report.md'), epochs=4,
                            tables=['table3', 'table5', 'table7'], params=False)
    text = open(md).read()
    row = next(ln for ln in text.splitlines()
               if ln.startswith('| Global + Local (AFF), ResNet on CIFAR-100, b = 1 |'))
    assert '| 0.7630 | - | 0.8000 | +0.0370 |' in row and '| done |' in row
    row = next(ln for ln in text.splitlines()
               if ln.startswith('| Global + Global, ResNet on CIFAR-100, b = 1 |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[3:7] == ['0.6000 (partial: 2/4 epochs)', '', '', 'stopped']
    row = next(ln for ln in text.splitlines()
               if ln.startswith('| Local + Local, ResNet on CIFAR-100, b = 1 |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[3:] == ['not run', '', '', 'not run', '']
    row = next(ln for ln in text.splitlines() if ln.startswith('| AFF-ResNet-50 (ours) |'))
    assert '| 20.90 | 20.28 | 21.00 | +0.10 | +0.72 | done |' in row
    assert os.path.exists(tmp_path / 'rep' / 'plots' / 'cifar_aff_resnet_b1-paper-coarse-s0.png')
    assert not os.path.exists(tmp_path / 'rep' / 'plots' / 'cifar_ll_resnet_b1-paper-coarse-s0.png')
    assert '<table>' in open(html).read() and 'plots/aff_resnet50-final-s0.png' in open(html).read()
    # Table 7: the basic-block rows are counted exactly as printed
    t7 = [s for s in build_report(str(runs), tables=['table7'])][0]
    assert t7[2][0][1:5] == ['27', '27', '1', '1'] and t7[2][1][1:5] == ['36', '36', '1', '1']
    with pytest.raises(FileNotFoundError, match='nowhere'):
        write_report(str(tmp_path / 'nowhere'), str(tmp_path / 'x.md'))


def test_cpu_plan_and_the_report_says_where_the_plots_go(tmp_path, capsys):
    entry = make_plan(tables=['table3'], tasks=['cifar'], gpus={'cifar': ''})[0]
    assert '--gpus' not in entry.argv and entry.as_dict()['gpus'] == 0     # CPU: no --gpus
    runs = tmp_path / 'runs'
    _write_metrics(str(runs / 'cifar_aff_resnet_b1-paper-coarse-s0'), [0.5, 0.8])
    from gluon_aff.commands import reproduce
    assert reproduce.main(['report', '--runs', str(runs), '--out', str(tmp_path / 'rep' / 'r.md'),
                           '--tables', 'table3', '--epochs', '2', '--no-params']) == 0
    plots = os.path.join(str(tmp_path), 'rep', 'plots')
    assert plots in capsys.readouterr().out
    assert os.path.isfile(os.path.join(plots, 'cifar_aff_resnet_b1-paper-coarse-s0.png'))


def test_seeds_are_averaged_only_when_all_done(tmp_path):
    runs = tmp_path / 'runs'
    _write_metrics(str(runs / 'cifar_add_resnet_b1-paper-coarse-s0'), [0.5, 0.7])
    _write_metrics(str(runs / 'cifar_add_resnet_b1-paper-coarse-s1'), [0.6, 0.8])
    rows = build_report(str(runs), seeds=[0, 1], tables=['table4'], epochs=2)[0][2]
    row = next(r for r in rows if r[0] == 'Add (None, -), ResNet (Short Skip), CIFAR-100, b = 1')
    assert row[3] == '0.7500 (mean of 2 seeds)' and row[6] == DONE
    rows = build_report(str(runs), seeds=[0, 1], tables=['table4'], epochs=3)[0][2]
    row = next(r for r in rows if r[0] == 'Add (None, -), ResNet (Short Skip), CIFAR-100, b = 1')
    assert row[6] == STOPPED and 'partial' in row[3]


def test_table5_params_counted_from_our_model_match_the_original():
    # the manifest holds the original code's trainable count; the paper truncates to 30.3 M
    assert model_parameters('aff_resnet50') == load_manifest('aff_resnet50')['num_params_trainable']
    assert [c.original for c in training_cells(['table5']) if c.run] == [20.28, 20.28, 20.22,
                                                                          19.78]


def test_every_planned_model_is_in_the_zoo():
    import gluon_aff
    import gluon_aff.model_zoo.fpn  # noqa: F401  (registers the FPN family)
    import gluon_aff.model_zoo.inception  # noqa: F401  (registers the Inception family)
    missing = {e.run.model for e in make_plan()} - set(gluon_aff.get_model_list())
    assert not missing
