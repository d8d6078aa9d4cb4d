"""The recipe layer against the original's own logs.

Every preset is derived again from the stored ``Namespace`` lines of the run it names
(``tests/data/openaff_logs``, copied from the original's logs, see its README), its logged figure
from the best values extracted from the same logs (``best.json``), and a chain's figures from
the file names its next stage loaded (``resume_from``). Every stored Namespace is replayed as a
gluon-aff command whose flags parse back into the same recipe.
"""
import argparse
import dataclasses
import gzip
import json
import os
import shlex

import pytest

from gluon_aff.commands import train_cifar, train_imagenet, train_segmentation
from gluon_aff.errors import UserError
from gluon_aff.reproduce.openaff_logs import log_task, parse_namespace
from gluon_aff.reproduce.replay import model_from_namespace, namespace_command
from gluon_aff.training.recipe import (PRESETS, TASKS, get_recipe, recipe_fields,
                                       recipe_from_args, recipe_from_namespace)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, 'tests', 'data', 'openaff_logs')
with open(os.path.join(DATA, 'best.json')) as _f:
    BEST = json.load(_f)
LOGS = sorted(BEST)
PARSERS = {'cifar': train_cifar.parse_args, 'imagenet': train_imagenet.parse_args,
           'segmentation': train_segmentation.parse_args}


def namespaces(rel):
    """The Namespace lines of a stored log, in file order."""
    with gzip.open(os.path.join(DATA, rel + '.lr.gz'), 'rt') as f:
        return [parse_namespace(line) for line in f if 'Namespace(' in line]


def best_of(rel, segment):
    return next(r for r in BEST[rel] if r['segment'] == segment)


def without(recipe, **values):
    return dataclasses.replace(recipe, name='', **values)


@pytest.mark.parametrize('key', sorted('%s/%s' % k for k in PRESETS))
def test_every_preset_is_what_its_log_says(key):
    task, name = key.split('/')
    preset = PRESETS[(task, name)]
    for k, stage in enumerate(preset.stages):
        if stage.source is None:
            assert task == 'segmentation' or name == 'paper' and task == 'cifar'
            continue
        ns = namespaces(stage.source)[stage.segment]
        logged = recipe_from_namespace(ns)
        # a model preset's stage warm-starts exactly when its run loaded another run's file
        if preset.model:
            assert stage.warm_start == bool(logged.init_from), (name, k)
            assert (k > 0) == stage.warm_start
        assert without(stage.recipe) == without(logged, init_from=None), (name, k)
        assert stage.recipe.devices == logged.devices
        if preset.model:
            best = best_of(stage.source, stage.segment)
            assert stage.logged == pytest.approx(best['best'], abs=1e-9), (name, k)
            zoo, kwargs, _ = model_from_namespace(ns, stage.source)
            assert zoo == preset.model and kwargs == {}
        if k:   # the previous stage's best, as the file name this stage loaded says
            figure = float(os.path.basename(logged.init_from).split('-')[0])
            assert abs(preset.stages[k - 1].logged - figure) <= 1e-4 + 1e-9, (name, k)
    if preset.released is not None:
        assert round(preset.stages[-1].logged, 4) == preset.released


def test_presets_follow_the_issue_facts():
    """What the logs say, spelled out: 512 per update (fine labels 256), AutoAugment on in the
    CIFAR runs, warm-up 20 in the cosine stages, decays at 300,450 shifted by the warm-up,
    --no-wd only with cosine, the paper-version runs' GPUs and epochs."""
    cifar = {n: p for (t, n), p in PRESETS.items() if t == 'cifar' and p.code == 'final'}
    for preset in cifar.values():
        for stage in preset.stages:
            r = stage.recipe
            assert r.auto_augment and r.batch_size == (256 if preset.labels == 'fine' else 512)
            if r.lr_mode == 'cosine':
                assert r.warmup_epochs == 20 and r.no_wd
            else:
                assert not r.no_wd and r.lr_decay_epochs in ((280, 430), (290, 440), (300, 450))
    assert [s.recipe.lr_mode for s in cifar['openaff-aff-resnext47'].stages] == [
        'epoch-step', 'cosine', 'epoch-step']
    paper = {n: get_recipe(n, 'imagenet') for (t, n) in PRESETS if t == 'imagenet'
             and n.startswith('paper-')}
    assert not paper['paper-gg-resnet50'].mixup and not paper['paper-ll-resnet50'].mixup
    assert paper['paper-iaff-resnet50'].epochs == 180
    assert {n: (r.batch_size, r.devices) for n, r in paper.items() if 'resnet50' in n} == {
        'paper-aff-resnet50': (240, 2), 'paper-iaff-resnet50': (192, 2),
        'paper-gg-resnet50': (256, 2), 'paper-ll-resnet50': (256, 2),
        'paper-aff-resnet50-ablation': (256, 2)}
    assert all(r.lr == 0.075 and r.lr_ref_batch == r.batch_size for r in paper.values())
    # RecordIO never applied AutoAugment: off in every ImageNet preset
    assert not any(get_recipe(n, 'imagenet').auto_augment for (t, n) in PRESETS
                   if t == 'imagenet' and not PRESETS[(t, n)].is_chain)
    # the paper-version CIFAR code mixed up always, lam = 1 for the last 20 epochs
    r = get_recipe('paper')
    assert (r.mixup, r.mixup_alpha, r.mixup_off_epochs, r.label_smoothing) == (True, 1.0, 20, 0)


def _stored_segments():
    for rel in LOGS:
        for index, ns in enumerate(namespaces(rel)):
            yield rel, index, ns


@pytest.mark.parametrize('rel', LOGS)
def test_replayed_command_parses_back_into_the_same_recipe(rel):
    """Round trip for every stored Namespace: the command replay prints parses (with the real
    training command's parser) into the recipe recipe_from_namespace gives."""
    for index, ns in enumerate(namespaces(rel)):
        task = log_task(ns)
        argv = namespace_command(ns, rel)
        assert argv[:2] == ['gluon-aff', 'train-' + task]
        text = ' '.join(shlex.quote(a) for a in argv)
        args = PARSERS[task](shlex.split(text)[2:])
        assert without(recipe_from_args(args, task)) == without(recipe_from_namespace(ns)), \
            (rel, index, text)
        if args.model != 'NAME':
            name, kwargs, _ = model_from_namespace(ns, rel)
            assert args.model == name, (rel, index)


def test_every_stage_of_every_preset_parses_from_its_name_and_flags():
    for (task, name), preset in PRESETS.items():
        for k in range(1, len(preset.stages) + 1):
            argv = ['--recipe', preset.stage_name(k)]
            if task != 'segmentation':
                argv += ['--init-from', 'x']
            args = PARSERS[task](argv + (['--model', 'm'] if task == 'imagenet' else []))
            recipe = recipe_from_args(args, task)
            expected = preset.stages[k - 1].recipe
            assert without(recipe, init_from=None) == without(expected)


def _flags(parser_fn):
    """``{flag: dest}`` of a command's parser (parse_args intercepted)."""
    captured = {}

    class Stop(Exception):
        pass

    original = argparse.ArgumentParser.parse_args

    def capture(self, args=None, namespace=None):
        captured.update({s: a.dest for a in self._actions for s in a.option_strings})
        raise Stop
    argparse.ArgumentParser.parse_args = capture
    try:
        parser_fn([])
    except Stop:
        pass
    finally:
        argparse.ArgumentParser.parse_args = original
    return captured


def test_flags_are_generated_from_the_fields_with_one_spelling():
    flags = {task: _flags(PARSERS[task]) for task in TASKS}
    seen = {}
    for task in TASKS:
        for f in recipe_fields(task):
            names = [s for s, dest in flags[task].items() if dest == f.name]
            assert names, (task, f.name)                        # every field has a flag
            for spelling in names:
                assert seen.setdefault(spelling, f.name) == f.name
            assert '--' + f.name.replace('_', '-') in names or f.metadata['flags'][0] in names
    # the same names in every training command
    for flag in ('--lr-mode', '--warmup-epochs', '--batch-size', '--per-device-batch',
                 '--no-wd', '--log-interval', '--recipe'):
        assert all(flag in flags[task] for task in TASKS), flag
    for flag in ('--mixup', '--no-mixup', '--label-smoothing', '--auto-augment', '--init-from'):
        assert flag in flags['cifar'] and flag in flags['imagenet']
    assert '--teacher' in flags['imagenet'] and '--teacher' not in flags['cifar']
    assert '--accumulate' in flags['segmentation']


def test_chains_stages_and_bad_values_have_clear_errors():
    with pytest.raises(ValueError, match='a chain of 2 stages .*: give --recipe '
                                         'openaff-aff-resnet32:1'):
        get_recipe('openaff-aff-resnet32')
    with pytest.raises(ValueError, match='no stage 3'):
        get_recipe('openaff-aff-resnet32:3')
    with pytest.raises(ValueError, match='unknown cifar recipe .openaff-aff-resnet50. '
                                         '\\(a imagenet recipe\\)'):
        get_recipe('openaff-aff-resnet50', 'cifar')
    with pytest.raises(ValueError, match="lr_mode 'epoch-step' has no warm-up"):
        get_recipe('final', warmup_epochs=3)
    with pytest.raises(UserError, match='starts from the best parameters of stage 1: give '
                                        '--init-from'):
        train_cifar.main(['--recipe', 'openaff-aff-resnet32:2', '--save-dir', '/nonexistent/x'])
    # --per-device-batch alone: the original's 128 per device (the preset's 512 over 4 GPUs)
    assert get_recipe('final', per_device_batch=True).batch_size == 128


@pytest.mark.parametrize('name, rnd_type, factor_type, magnitude', [
    # the original CIFAR script: net.initialize(mx.init.Xavier()) = uniform, avg fan, 3
    ('xavier', 'uniform', 'avg', 3.0),
    # the original ImageNet script: mx.init.MSRAPrelu() = gaussian, avg fan, 2 / (1 + 0.25^2)
    ('msraprelu', 'gaussian', 'avg', 2.0 / (1.0 + 0.25 ** 2)),
    # He et al. 2015 for ReLU (the paper's Table 2 init): gaussian, fan in, 2
    ('kaiming', 'gaussian', 'in', 2.0),
])
def test_initializers_are_the_originals(name, rnd_type, factor_type, magnitude):
    from gluon_aff.training.recipe import make_initializer
    init = make_initializer(name.upper())
    assert (init.rnd_type, init.factor_type) == (rnd_type, factor_type)
    assert init.magnitude == pytest.approx(magnitude)
    with pytest.raises(ValueError, match='unknown init'):
        make_initializer('he')
