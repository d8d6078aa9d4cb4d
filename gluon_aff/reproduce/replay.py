"""Replay a run of the original open-aff code from its training log (``reproduce.py replay``).

A run is one segment of a log (:mod:`gluon_aff.reproduce.openaff_logs`).

* **Commands.** :func:`replay_commands` gives the gluon-aff training command(s) of a run: its
  recipe (:func:`gluon_aff.training.recipe.recipe_from_namespace`) as flags, its network
  (:func:`model_from_namespace`) and data. When the run is a stage of a preset
  (:data:`gluon_aff.training.recipe.PRESETS`, matched by log file name and segment), the
  commands are the preset's chain up to that stage, each stage warm-started from the previous
  one's run folder; otherwise one command with every value as a flag.
* **Learning rates.** Its schedule comes from its ``Namespace``
  (:func:`gluon_aff.training.schedule.schedule_from_namespace`): :func:`write_lr_trace` writes
  the lr of every update, :func:`check_logged_lr` compares it with the lr values the log printed,
  at the same epoch and batch: an ImageNet ``Epoch[e] Batch [b]`` line printed
  ``trainer.learning_rate`` right after update ``b`` of epoch ``e``, i.e. the lr of that update;
  a CIFAR ``[Epoch e]`` line printed it after the epoch, i.e. the lr of the epoch's last update.
  The original printed ``%f`` (6 decimals), so a faithful trace agrees within 5e-7.
"""
import csv
import os
import re
from dataclasses import dataclass, replace

from ..training.recipe import PRESETS, get_recipe, preset_names, recipe_argv, \
    recipe_from_namespace
from ..training.schedule import devices_of, lr_trace, schedule_from_namespace
from .openaff_logs import code_version, log_task, read_log

__all__ = ['run_schedule', 'write_lr_trace', 'check_logged_lr', 'LRCheck', 'describe_log',
           'model_from_namespace', 'preset_stage_of', 'namespace_command', 'replay_commands']


def run_schedule(segment, num_samples=None):
    """The :class:`~gluon_aff.training.schedule.ScheduleArgs` of one logged run."""
    return schedule_from_namespace(segment.namespace, num_samples=num_samples)


def write_lr_trace(log_path, out_path, segment=None, num_samples=None):
    """Write ``epoch,batch,lr`` (0-based epoch and batch, one row per update) of a logged run.

    Parameters
    ----------
    log_path : str
        A log of the original (plain or gzip).
    out_path : str
        CSV file to write (replaced atomically).
    segment : int or None
        0-based run of the log (its Namespace lines); None: the last run that trained.
    num_samples : int or None
        Training-set size (default: the original's constant for the task).

    Returns
    -------
    (int, ScheduleArgs, int)
        The segment used, its schedule and the number of rows written.
    """
    log = read_log(log_path)
    run = log.segment(segment)
    args = run_schedule(run, num_samples)
    folder = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(folder):
        raise FileNotFoundError('folder of the lr trace does not exist: %s' % folder)
    tmp = out_path + '.tmp'
    rows = 0
    with open(tmp, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(('epoch', 'batch', 'lr'))
        for epoch, batch, lr in lr_trace(args):
            writer.writerow((epoch, batch, repr(lr)))
            rows += 1
    os.replace(tmp, out_path)
    return run.index, args, rows


@dataclass
class LRCheck:
    """Logged vs replayed lr of one run: ``count`` values compared, ``max_abs_err`` and the
    ``worst`` one as ``(epoch, batch, logged, replayed)``."""
    count: int
    max_abs_err: float
    worst: tuple


def check_logged_lr(segment, args=None):
    """Compare every lr a run printed with its replayed schedule (:class:`LRCheck`).

    ``args``: the run's schedule (default :func:`run_schedule`). An lr printed at an epoch or
    batch outside the replayed run raises ``ValueError``.
    """
    args = args or run_schedule(segment)
    scheduler, starts = args.build(), args.epoch_starts()
    count, worst = 0, (0.0, None)
    for epoch, batch, logged in segment.logged_lr():
        batch = args.epoch_length(epoch) - 1 if batch is None else batch
        replayed = float(scheduler(args.update_count(epoch, batch, starts)))
        error = abs(replayed - logged)
        count += 1
        if worst[1] is None or error > worst[0]:
            worst = (error, (epoch, batch, logged, replayed))
    return LRCheck(count=count, max_abs_err=worst[0], worst=worst[1])


def describe_log(log_path, segment=None):
    """Lines describing a log's runs and the schedule of run ``segment`` (default: the last run
    that trained; ``replay`` without ``--lr-trace``)."""
    log = read_log(log_path)
    chosen, default = log.segment(segment).index, log.default_segment()
    lines = ['%s: %d run(s) (Namespace lines)' % (log_path, len(log.segments))]
    for run in log.segments:
        ns = run.namespace
        logged = ('epochs %d-%d' % (run.epochs[0]['epoch'], run.epochs[-1]['epoch'])
                  if run.epochs else 'batches only' if run.batches else 'nothing logged')
        lines.append('  segment %d (line %d)%s: %s, lr %s, %s epochs, %s'
                     % (run.index, run.line, (' [default]' if run.index == default else '') +
                        (' [replayed]' if run.index == chosen != default else ''),
                        ns.get('model', ns.get('scenario', '?')), ns.get('lr'),
                        ns.get('num_epochs'), logged))
    args = run_schedule(log.segments[chosen])
    lines.append('schedule of segment %d:' % chosen)
    lines += ['  ' + note for note in args.notes]
    return lines


# --------------------------------------------------------------------------- commands
_PAPER_RESNEXT = re.compile(r'^(se_)?resnext(\d+)_(\d+)x(\d+)d$')


def model_from_namespace(namespace, log_name=''):
    """``(zoo name, kwargs, notes)`` of the network an original run trained.

    From ``--model``/``--askc-type``/``--blocks``/``--channel-times``/``--start-layer``/
    ``--deep-stem``/``--dataset`` (CIFAR) or ``--model``/``--scenario``/``--askc-type``/
    ``--num-layer``/``--start-layer``/``--last-gamma`` (ImageNet). Where the Namespace names no
    fusion or host (fixed in that script version), the log's file name decides (``iaff`` ->
    iAFF, else AFF; ``resnext`` -> ResNeXt), with a note. Raises ``ValueError`` when the network cannot be told (e.g. the
    placeholder ``askc_type='xxx'`` of starts that never trained).
    """
    from ..model_zoo import find_models
    from ..model_zoo.convert import SCRIPT_DEFAULTS, fusion_tag
    from ..training.cifar import cifar_model_spec
    ns, notes = namespace, []
    version = code_version(ns)
    askc = ns.get('askc_type')
    if askc in (None, 'xxx'):
        fusion = 'iaff' if 'iaff' in os.path.basename(log_name).lower() else 'aff'
        if log_task(ns) == 'imagenet' and 'resnet50_v1b_best' not in os.path.basename(log_name):
            raise ValueError('the Namespace names no fusion (askc_type=%r): this start of the '
                             'original could not build a network' % (askc,))
        notes.append('fusion: not in the Namespace (fixed in that script version); %s from the '
                     "log's file name" % fusion.upper())
    else:
        fusion = fusion_tag(askc)
    if log_task(ns) == 'cifar':
        classes = 10 if ns.get('dataset') == 'cifar10' else 100
        model = str(ns.get('model', 'resnet'))
        kwargs = {}
        paper_resnext = _PAPER_RESNEXT.match(model)
        if paper_resnext:
            se, depth, card, width = paper_resnext.groups()
            if se:
                raise ValueError('%s (SE blocks) has no gluon-aff host' % model)
            host, blocks = 'resnext', (int(depth) - 2) // 9
            if (int(card), int(width)) != (32, 4):
                kwargs.update(cardinality=int(card), bottleneck_width=int(width))
        elif model in ('resnet', 'resnext'):
            host, blocks = model, int(ns.get('blocks', 1))
            default = SCRIPT_DEFAULTS[('cifar', version)]['times']
            if int(ns.get('channel_times', default)) != default:
                kwargs['channel_times'] = int(ns['channel_times'])
        else:
            raise ValueError('unknown CIFAR model %r' % model)
        name, spec = cifar_model_spec(host=host, fusion=fusion, blocks=blocks, version=version,
                                      classes=classes)
        spec.update(kwargs)
        start = SCRIPT_DEFAULTS[('cifar', version)]['start']
        if int(ns.get('start_layer', start)) != start:
            spec['start_layer'] = int(ns['start_layer'])
        if ns.get('deep_stem'):
            spec['deep_stem'] = True
        return name, spec, notes
    if ns.get('model') in ('resnet', 'resnext'):
        host = ns['model']
    elif ns.get('scenario') in ('ResNet', 'ResNeXt'):
        host = ns['scenario'].lower()
    else:   # scenario='xxx' or no scenario: that script version fixed the host
        host = 'resnext' if 'resnext' in os.path.basename(log_name).lower() else 'resnet'
        notes.append("host: not in the Namespace (scenario=%r); %s from the log's file name"
                     % (ns.get('scenario'), host))
    names = find_models(dataset='imagenet', host=host, version=version, fusion=fusion) or \
        find_models(dataset='imagenet', host=host, version='paper', fusion=fusion)
    if not names:
        raise ValueError('the zoo has no ImageNet %s with fusion %s' % (host, fusion))
    spec, defaults = {}, SCRIPT_DEFAULTS[('imagenet', version)]
    if int(ns.get('num_layer', defaults['depth'])) != defaults['depth']:
        spec['depth'] = int(ns['num_layer'])
    if int(ns.get('start_layer', defaults['start'])) != defaults['start']:
        spec['start_layer'] = int(ns['start_layer'])
    if not ns.get('last_gamma', True):
        spec['last_gamma'] = False
    return names[0], spec, notes


def _log_key(path):
    base = os.path.basename(str(path))
    for ext in ('.gz', '.log', '.lr'):
        base = base[:-len(ext)] if base.endswith(ext) else base
    return base


def preset_stage_of(log_path, segment, namespace=None):
    """``(preset, stage index)`` of the model preset that names this log and segment, or
    ``None``: matched by the log's file name and the 0-based segment, and, where two logs share
    a name (the original's ``superclass/`` copies), by the recipe of ``namespace`` and the
    folders in ``log_path``."""
    key = _log_key(log_path)
    found = []
    for preset in PRESETS.values():
        if preset.model is None:
            continue
        for index, stage in enumerate(preset.stages):
            if stage.source and _log_key(stage.source) == key and stage.segment == segment:
                found.append((preset, index))
    if len(found) > 1 and namespace is not None:
        logged = replace(recipe_from_namespace(namespace), init_from=None, name='')
        found = [(p, i) for p, i in found if replace(p.stages[i].recipe, name='') == logged]
    if len(found) > 1:
        folders = os.path.dirname(os.path.abspath(str(log_path))).replace(os.sep, '/')
        found = [(p, i) for p, i in found
                 if folders.endswith(os.path.dirname(p.stages[i].source))] or found
    return found[0] if found else None


def namespace_command(namespace, log_name='', model=None, labels=None, save_dir=None,
                      notes=None):
    """``argv`` of ``gluon-aff train-<task>`` for one logged run, every recipe value a flag
    (relative to the generic preset that needs the fewest), with ``--model`` and data flags.

    ``model``: zoo name (default :func:`model_from_namespace`; ``'NAME'`` placeholder with a
    note when it cannot be told). ``labels``: CIFAR-100 label set (default coarse, the
    original's ``CIFAR100()``). ``notes`` (a list) receives what the command cannot say.
    """
    notes = notes if notes is not None else []
    task = log_task(namespace)
    recipe = recipe_from_namespace(namespace, notes)
    bases = [n for n in preset_names(task) if PRESETS[(task, n)].model is None]
    argv = min((recipe_argv(recipe, base) for base in bases), key=len)
    kwargs = {}
    if model is None:
        try:
            model, kwargs, more = model_from_namespace(namespace, log_name)
            notes.extend(more)
        except ValueError as err:
            notes.append('network: %s; give --model NAME' % err)
            model = 'NAME'
    command = ['gluon-aff', 'train-' + task, '--model', model]
    host = {'channel_times': '--channel-times', 'start_layer': '--start-layer',
            'deep_stem': '--deep-stem', 'depth': '--num-layer'}
    extra = {k: v for k, v in kwargs.items() if k not in host and k != 'classes'}
    for key, flag in host.items():
        if key in kwargs:
            command += [flag] if kwargs[key] is True else [flag, str(kwargs[key])]
    if extra:
        import json
        command += ['--model-kwargs', json.dumps(extra, sort_keys=True)]
    if task == 'cifar':
        if namespace.get('dataset') == 'cifar10':
            command += ['--dataset', 'cifar10']
        else:
            command += ['--labels', labels or 'coarse']
    if recipe.init_from:
        notes.append('warm-started from %s, the best file of an earlier run: give that run\'s '
                     'folder (or the file) as --init-from' % recipe.init_from)
    command += argv
    devices = devices_of(namespace)
    notes.append('the original ran on %d GPU(s): add --gpus %s' % (
        devices, ','.join(str(i) for i in range(devices))))
    if save_dir:
        command += ['--save-dir', save_dir]
    return command


def replay_commands(log_path, segment=None, runs_dir='runs', labels=None, model=None):
    """``(commands, notes, segment index)``: the training command(s) of a logged run.

    A run that is a stage of a model preset gives the preset's chain up to that stage
    (:func:`gluon_aff.reproduce.plan.chain_commands`), each stage warm-started from the previous
    one's run folder; any other run one command (:func:`namespace_command`), saved to
    ``runs_dir/<log name>-seg<K>``. ``labels``/``model`` override what the log cannot say.
    """
    from .plan import chain_commands
    log = read_log(log_path)
    run = log.segment(segment)
    notes = []
    match = preset_stage_of(log_path, run.index, run.namespace) if model is None else None
    if match is not None:
        preset, index = match
        logged = replace(recipe_from_namespace(run.namespace), init_from=None)
        if logged != get_recipe(preset.stage_name(index + 1), preset.task):
            raise AssertionError('preset %s differs from its log' % preset.stage_name(index + 1))
        notes.append('%s, stage %d of %d of preset %s (%s)' % (
            os.path.basename(log_path), index + 1, len(preset.stages), preset.name,
            preset.description))
        for stage in preset.stages[:index + 1]:
            notes.extend(stage.notes)
        return chain_commands(preset, index + 1, runs_dir), notes, run.index
    save_dir = os.path.join(runs_dir, '%s-seg%d' % (_log_key(log_path), run.index))
    command = namespace_command(run.namespace, log_path, model, labels, save_dir, notes)
    return [command], notes, run.index
