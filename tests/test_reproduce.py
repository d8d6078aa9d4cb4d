"""Reproduction tables, run plan, status rule and report, against hand-typed paper values and
generated metrics files with known content."""
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import load_manifest
from gluon_aff.reproduce import (DONE, NOT_RUN, RUNNING, STOPPED, format_plan, make_plan,
                                 parse_shard, run_result, training_cells, write_report)
from gluon_aff.training import Run
from gluon_aff.training.recipe import get_recipe
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
    # Table 6 shares the runs of Tables 3 and 4: the paper-version code mixed up in every run
    assert _cell(cells, 'table6/aff/resnet_cifar/b2').run == \
        _cell(cells, 'table3/aff/resnet_cifar/b2').run
    half = _cell(cells, 'table6/half_aff/resnet_cifar/b1')
    assert half.run.recipe == 'paper' and get_recipe('paper').mixup
    assert 'host inferred' in half.label
    # Table 3's ImageNet column: the paper-version ablation logs' best errors (typed by hand from
    # resnet50_v1b_GlobGlob_div16.log run 5, ..._LocaLoca_div16.1.log run 3 and
    # resnet50_v1b_best_div16_resume.log run 0), as accuracies
    imagenet = [_cell(cells, 'table3/%s/resnet_imagenet' % r) for r in ('gg', 'll', 'aff')]
    assert [c.original for c in imagenet] == pytest.approx([1 - 0.223197, 1 - 0.219972,
                                                            1 - 0.216166])
    assert [round(c.original, 3) for c in imagenet] == [c.paper for c in imagenet]
    assert 'resnet50_v1b_GlobGlob_div16.log, segment 5' in imagenet[0].source
    assert [c.run.recipe for c in imagenet] == ['paper-gg-resnet50', 'paper-ll-resnet50',
                                                'paper-aff-resnet50-ablation']


def test_every_ablation_number_matches_the_paper_text():
    """Every paper value of Tables 3, 4 and 6 against the paper's own tables (the verbatim
    excerpt), row by row in the printed column order."""
    text = re.sub(r'</?b>', '', open(PAPER).read())
    cells = {c.cell_id: c.paper for c in training_cells(['table3', 'table4', 'table6'])}

    def printed(title, first_row, headers, skip):
        block = text.split(title)[1].split('\n\n')[1].splitlines()[headers:]
        rows = {}
        for line in block:
            fields = line.split('\t')
            values = [None if v == '/' else float(v) for v in fields[1 + skip:]]
            rows[fields[0]] = values
        assert list(rows)[0] == first_row
        return rows
    t3 = printed('Table 3:', 'Global + Global', 2, 0)
    t4 = printed('Table 4:', 'Add', 2, 2)
    t6 = printed('Table 6:', 'Half-AFF', 1, 1)
    assert [len(t3), len(t4), len(t6)] == [3, 7, 5]
    for label, row in zip(t3, ('gg', 'll', 'aff')):
        values = [cells['table3/%s/%s/b%d' % (row, col, b)]
                  for col in ('inception_cifar', 'resnet_cifar', 'fpn_stopsign')
                  for b in (1, 2, 3, 4)] + [cells['table3/%s/resnet_imagenet' % row]]
        assert values == t3[label], label
    for label, row in zip(t4, ('add', 'concat', 'ms_gau', 'ms_se', 'ms_sa', 'aff', 'iaff')):
        values = [cells['table4/%s/%s/b%d' % (row, col, b)]
                  for col in ('inception_cifar', 'resnet_cifar', 'fpn_stopsign')
                  for b in (1, 2, 3, 4)]
        assert values == t4[label], label
    for label, row in zip(t6, ('half_aff', 'concat_aff', 'aff', 'recursive_aff', 'iaff')):
        assert [cells['table6/%s/resnet_cifar/b%d' % (row, b)] for b in (1, 2, 3)] == \
            t6[label], label


def test_plan_commands_are_exact_and_runs_shared():
    entries = make_plan(tables=['table3', 'table4', 'table6'], tasks=['cifar'],
                        data_dirs={'cifar': '/data/c100'})
    by_name = {e.name: e for e in entries}
    assert len(by_name) == len(entries)
    e = by_name['cifar_gg_resnet_b1-paper-coarse-s0']
    assert e.command == ('python scripts/train_cifar.py --model cifar_gg_resnet_b1 --labels '
                         'coarse --recipe paper --seed 0 --gpus 0 --save-dir '
                         'runs/cifar_gg_resnet_b1-paper-coarse-s0 --data-dir /data/c100')
    # AFF ResNet b=1 fills Tables 3, 4 and 6 with one run (the paper-version recipe, mixup on)
    aff = by_name['cifar_aff_resnet_b1-paper-coarse-s0']
    assert [c.cell_id for c in aff.cells] == ['table3/aff/resnet_cifar/b1',
                                              'table4/aff/resnet_cifar/b1',
                                              'table6/aff/resnet_cifar/b1']
    assert aff.epochs == 400
    # 3 rows x 2 hosts x 4 b (Table 3) + 6 new rows x 2 hosts x 4 b (Table 4; iAFF ResNet b4,
    # printed '/', is planned too) + 3 new rows x 3 b (Table 6: AFF and iAFF are shared)
    assert len(entries) == 24 + 6 * 8 + 3 * 3
    # Table 5: the paper-version runs, on as many GPUs as they ran (AFF-ResNet-50: 2 x 120)
    imagenet = make_plan(tables=['table5'], seeds=[0, 1])
    assert [e.name for e in imagenet][:2] == ['paper-aff-resnet50-s0', 'paper-aff-resnet50-s1']
    assert imagenet[0].command == (
        'python scripts/train_imagenet.py --model aff_resnet50_paper --recipe '
        'paper-aff-resnet50 --seed 0 --gpus 0,1 --save-dir runs/paper-aff-resnet50-s0')
    assert {e.epochs for e in imagenet} == {160, 180}     # iAFF-ResNet-50: 180 epochs


def test_released_chains_are_planned_stage_by_stage():
    entries = make_plan(tables=['released'], tasks=['cifar'], data_dirs={'cifar': '/d'})
    names = [e.name for e in entries]
    assert names[:2] == ['openaff-aff-resnet32-stage1-s0', 'openaff-aff-resnet32-stage2-s0']
    second = entries[1]
    assert second.command == (
        'python scripts/train_cifar.py --model cifar_aff_resnet32 --labels coarse --recipe '
        'openaff-aff-resnet32:2 --seed 0 --gpus 0,1,2,3 --init-from '
        'runs/openaff-aff-resnet32-stage1-s0 --save-dir runs/openaff-aff-resnet32-stage2-s0 '
        '--data-dir /d')
    assert second.as_dict()['after'] == 'openaff-aff-resnet32-stage1-s0'
    # 2 + 2 + 3 stages of the coarse chains, 2 fine-label runs (2 GPUs)
    assert len(entries) == 9 and names.index('openaff-aff-resnext47-stage3-s0') == 6
    assert '--gpus 0,1 ' in entries[-1].command and '--labels fine' in entries[-1].command
    # shards keep a chain's stages together and in order
    for k in (1, 2, 3):
        shard = [e.name for e in make_plan(tables=['released'], tasks=['cifar'], shard=(k, 3))]
        for chain in ('openaff-aff-resnet32', 'openaff-aff-resnext47'):
            stages = [n for n in shard if n.startswith(chain + '-stage')]
            assert stages in ([], sorted(stages)) and len(stages) in (0, 2 if '32' in chain
                                                                        else 3)


def test_shards_partition_the_plan_and_formats():
    full = [e.name for e in make_plan()]
    shards = [[e.name for e in make_plan(shard=(k, 3))] for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(full)
    with pytest.raises(ValueError, match='K/N'):
        parse_shard('4/3')
    jobs = [json.loads(line) for line in
            format_plan(make_plan(tables=['released']), 'jobs').splitlines()]
    assert jobs[0]['name'] == 'openaff-aff-resnet32-stage1-s0' and jobs[0]['epochs'] == 640
    assert {j['gpus'] for j in jobs} == {2, 4}
    script = format_plan(make_plan(tables=['table5']), 'sh')
    assert script.startswith('#!/usr/bin/env bash') and 'status --epochs 180' in script
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
    # ImageNet AFF-ResNet-50 (Table 5: the paper-version run) done: best top-1 error 0.21
    _write_metrics(str(runs / 'paper-aff-resnet50-s0'), [0.3, 0.21, 0.22, 0.215],
                   key='val_top1_err')
    md, html = write_report(str(runs), str(tmp_path / 'rep' / 'report.md'), epochs=4,
                            tables=['table3', 'table5', 'table7'], params=False)
    text = open(md).read()
    row = next(ln for ln in text.splitlines()
               if ln.startswith('| Global + Local (AFF), ResNet on CIFAR-100, b = 1 |'))
    assert '| top-1 accuracy | 0.7630 | - | 0.8000 | +0.0370 |' in row and '| done |' in row
    assert '| no log of the paper-version ablation runs ships |' in row
    # the StopSign cells say which IoU is compared with the paper's "mIoU"
    assert any('| mIoU (stop-sign IoU) |' in ln for ln in text.splitlines()
               if 'StopSign' in ln)
    row = next(ln for ln in text.splitlines()
               if ln.startswith('| Global + Global, ResNet on CIFAR-100, b = 1 |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[4:8] == ['0.6000 (partial: 2/4 epochs)', '', '', 'stopped']
    row = next(ln for ln in text.splitlines()
               if ln.startswith('| Local + Local, ResNet on CIFAR-100, b = 1 |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[4:8] + cells[9:] == ['not run', '', '', 'not run', '']
    row = next(ln for ln in text.splitlines() if ln.startswith('| AFF-ResNet-50 (ours) |'))
    # paper 20.9, the paper-version log's best 0.208994 (20.90), ours 21.00
    assert '| top-1 error (%) | 30.3 | - | 20.90 | 20.90 | 21.00 | +0.10 | +0.10 | done |' in row
    assert 'paper code, resnet50_v1b_best_AFF_mixup.log, segment 20' in row and '20.28' in row
    assert os.path.exists(tmp_path / 'rep' / 'plots' / 'cifar_aff_resnet_b1-paper-coarse-s0.png')
    assert not os.path.exists(tmp_path / 'rep' / 'plots' / 'cifar_ll_resnet_b1-paper-coarse-s0.png')
    assert '<table>' in open(html).read()
    assert 'plots/paper-aff-resnet50-s0.png' in open(html).read()
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
    assert row[4] == '0.7500 (mean of 2 seeds)' and row[7] == DONE
    rows = build_report(str(runs), seeds=[0, 1], tables=['table4'], epochs=3)[0][2]
    row = next(r for r in rows if r[0] == 'Add (None, -), ResNet (Short Skip), CIFAR-100, b = 1')
    assert row[7] == STOPPED and 'partial' in row[4]


def test_table5_params_counted_from_our_model_match_the_original():
    # the manifest holds the original code's trainable count; the paper truncates to 30.3 M
    assert model_parameters('aff_resnet50') == load_manifest('aff_resnet50')['num_params_trainable']
    # the paper's errors came from the paper-version runs: their logs' best top-1 errors (typed
    # by hand: resnet50_v1b_best_AFF_mixup.log run 20, resnext50_32x4d_aff_best.log run 3,
    # resnet50_v1b_best_iAFF.log run 3, resnext50_32x4d_iaff_best.log run 1)
    cells = [c for c in training_cells(['table5']) if c.run]
    assert [c.original for c in cells] == pytest.approx([20.8994, 20.8566, 20.4347, 20.2481])
    assert [c.run.model for c in cells] == ['aff_resnet50_paper', 'aff_resnext50_32x4d_paper',
                                            'iaff_resnet50_paper', 'iaff_resnext50_32x4d_paper']
    # ... and the released final models' figures (their .params names) are named beside them
    assert ['%.2f' % v in c.source for c, v in zip(cells, (20.28, 20.28, 20.22, 19.78))] == \
        [True] * 4


def test_released_cells_disclose_chains_and_their_figures():
    cells = training_cells(['released'])
    by_id = {c.cell_id: c for c in cells}
    # the released figures (open-aff README / .params names), typed by hand
    assert [by_id['released/openaff-aff-resnet32:2'].original,
            by_id['released/openaff-aff-resnext38:2'].original,
            by_id['released/openaff-aff-resnext47:3'].original,
            by_id['released/openaff-aff-resnet32-fine'].original,
            by_id['released/openaff-iaff-resnext50'].original] == [0.9078, 0.9123, 0.9184,
                                                                  0.8357, 0.1978]
    # the stages before: their logs' best values (0.9031 -> 0.9078; 0.9091 -> 0.9147 -> 0.9184)
    assert by_id['released/openaff-aff-resnet32:1'].original == 0.9031
    assert [by_id['released/openaff-aff-resnext47:%d' % k].original for k in (1, 2)] == \
        [0.9091, 0.9147]
    first = by_id['released/openaff-aff-resnet32:1']
    assert 'stage 1 of 2 (from scratch)' in first.label and 'final code' in first.source
    last = by_id['released/openaff-aff-resnet32:2']
    assert "stage 2 of 2 (from stage 1's best)" in last.label
    assert '.params file name' in last.source
    assert by_id['released/openaff-iaff-resnext50'].metric == 'top1_err'
    notes = [s for s in build_report('nowhere', tables=['released'])][0][3]
    assert any('.params file names' in n for n in notes)


def test_every_planned_model_is_in_the_zoo():
    import gluon_aff
    import gluon_aff.model_zoo.fpn  # noqa: F401  (registers the FPN family)
    import gluon_aff.model_zoo.inception  # noqa: F401  (registers the Inception family)
    missing = {e.run.model for e in make_plan()} - set(gluon_aff.get_model_list())
    assert not missing


def test_the_docs_commands_are_the_presets_chains():
    """docs/reproducing.md lists, for every released and logged number, the chain of commands
    that produces it: the same commands as the presets give (and replay prints)."""
    from gluon_aff.reproduce.plan import chain_commands
    from gluon_aff.training.recipe import PRESETS
    text = open(os.path.join(ROOT, 'docs', 'reproducing.md')).read()
    section = text.split('## Every released and logged number')[1].split('\n## ')[0]
    documented = dict(re.findall(r'`([\w-]+)` \([^\n]*\):\n\n```bash\n(.*?)```', section, re.S))
    presets = {n: p for (t, n), p in PRESETS.items() if p.model}
    assert sorted(documented) == sorted(presets)
    for name, preset in presets.items():
        expected = [' '.join(argv) for argv in chain_commands(preset)]
        assert documented[name].strip().splitlines() == expected, name
