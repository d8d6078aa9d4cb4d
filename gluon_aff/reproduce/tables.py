"""The paper's result tables and the original code's logged results, as cells to reproduce.

The paper's numbers live in ``data/paper_tables.json`` next to this module (Tables 3, 4, 5 of
the main text and 6, 7 of the supplement of Dai et al., *Attentional Feature Fusion*, WACV
2021, copied by hand from the paper, source named in the file). The original code's numbers
are the recipe presets' (:data:`gluon_aff.training.recipe.PRESETS`): each stage names its log
and run and holds the best value that run logged; a released model's figure is the 4-decimal
number in its ``.params`` file name (``Preset.released``).

A :class:`Cell` is one number of a table (paper value, original value and where it comes from)
plus the :class:`RunSpec` of the training run of this project that measures it. Cells sharing a
run (the AFF row of Tables 3, 4 and 6 is one model trained with one recipe) point to the same
:class:`RunSpec`, so every run is trained once.
"""
import collections
import json
import os

from ..training.recipe import find_preset, get_preset, get_recipe

__all__ = ['RunSpec', 'Cell', 'DATA_DIR', 'TRAINING_TABLES', 'METRICS', 'TABLE5_PRESETS',
           'TABLE3_IMAGENET_PRESETS', 'load_paper_tables', 'model_name', 'training_cells',
           'runs_of', 'table_title', 'released_presets']

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')

#: tables whose cells are training runs (Table 7 is computed, not trained)
TRAINING_TABLES = ('table3', 'table4', 'table5', 'table6', 'released')

#: what a cell's value measures
METRICS = {'val_acc': 'top-1 accuracy', 'val_miou': 'mIoU (stop-sign IoU)',
           'top1_err': 'top-1 error', 'top1_err_pct': 'top-1 error (%)'}

#: Table 5 rows -> the paper-version runs their errors came from (the paper printed the final
#: models' parameter counts next to them)
TABLE5_PRESETS = {'aff_resnet50': 'paper-aff-resnet50', 'aff_resnext50_32x4d':
                  'paper-aff-resnext50', 'iaff_resnet50': 'paper-iaff-resnet50',
                  'iaff_resnext50_32x4d': 'paper-iaff-resnext50'}
#: Table 3's ImageNet column -> the paper-version ablation runs (no mixup, 2 GPUs x 128)
TABLE3_IMAGENET_PRESETS = {'gg': 'paper-gg-resnet50', 'll': 'paper-ll-resnet50',
                           'aff': 'paper-aff-resnet50-ablation'}

_TASKS = ('cifar', 'imagenet', 'segmentation')


class RunSpec(collections.namedtuple('RunSpec', 'task model recipe labels')):
    """One training run of this project (seed excluded).

    Attributes
    ----------
    task : {'cifar', 'imagenet', 'segmentation'}
        Which training command runs it.
    model : str
        Zoo name passed as ``--model``.
    recipe : str
        Recipe preset (``paper``, ``openaff-aff-resnet32:2``, ...;
        :mod:`gluon_aff.training.recipe`).
    labels : {'coarse', 'fine'} or None
        CIFAR-100 label set (``coarse``: the 20 super-classes the original code used).
    """
    __slots__ = ()

    def __new__(cls, task, model, recipe, labels=None):
        return super(RunSpec, cls).__new__(cls, task, model, recipe, labels)

    @property
    def preset(self):
        """``(Preset, 0-based stage)`` of the recipe."""
        return find_preset(self.recipe, self.task)

    @property
    def stage(self):
        preset, index = self.preset
        return preset.stages[index]

    @property
    def epochs(self):
        """Planned epochs of the recipe."""
        return get_recipe(self.recipe, self.task).epochs

    @property
    def devices(self):
        """Devices of the original run (the plan's default ``--gpus``)."""
        return get_recipe(self.recipe, self.task).devices

    @property
    def previous(self):
        """The :class:`RunSpec` of the stage this one warm-starts from, or None."""
        preset, index = self.preset
        if not preset.stages[index].warm_start:
            return None
        return RunSpec(self.task, self.model, preset.stage_name(index), self.labels)

    def run_name(self, seed):
        """Directory name of this run with ``seed`` under the runs directory."""
        preset, _ = self.preset
        recipe = self.recipe.replace(':', '-stage')
        parts = [recipe] if preset.model else \
            [self.model, recipe] + ([self.labels] if self.labels else [])
        return '-'.join(parts + ['s%d' % seed])


class Cell(collections.namedtuple('Cell', 'table row column b label metric paper original run '
                                          'source')):
    """One number of a table.

    Attributes
    ----------
    table, row, column : str
        Keys in the data files (``column`` is ``None`` for single-column tables).
    b : int or None
        Blocks per stage of the ResNet-20-b style hosts.
    label : str
        Human readable description (row / column / b).
    metric : str
        A key of :data:`METRICS`: ``val_acc`` and ``val_miou`` in [0, 1], ``top1_err`` in
        [0, 1], ``top1_err_pct`` in percent (Table 5, as printed).
    paper, original : float or None
        The paper's value and the original code's (``None``: not published / no log).
    run : RunSpec or None
        The run that measures it (``None``: not trained by this project, e.g. quoted networks).
    source : str
        Where ``original`` comes from: the code version and run (log, segment), or a released
        ``.params`` file name.
    """
    __slots__ = ()

    def __new__(cls, table, row, column, b, label, metric, paper, original, run, source=''):
        return super(Cell, cls).__new__(cls, table, row, column, b, label, metric, paper,
                                        original, run, source)

    @property
    def cell_id(self):
        parts = [self.table, self.row] + ([self.column] if self.column else [])
        return '/'.join(parts + (['b%d' % self.b] if self.b else []))


def _load(filename):
    path = os.path.join(DATA_DIR, filename)
    with open(path) as f:
        return json.load(f)


def load_paper_tables():
    """The content of ``data/paper_tables.json`` (``{'source': ..., 'tables': {...}}``)."""
    return _load('paper_tables.json')


def _run_source(preset, index):
    """``<code> code, <log>.log, segment <K>`` of stage ``index`` of ``preset``."""
    stage = preset.stages[index]
    return '%s code, %s.log, segment %d' % (
        preset.code, os.path.basename(stage.source), stage.segment)


#: the column hosts of ``paper_tables.json`` -> the model cards they select
_TABLE_HOSTS = {'resnet': dict(host='resnet', dataset='cifar100', version='paper'),
                'inception_resnet': dict(host='inception_resnet', dataset='cifar100'),
                'fpn': dict(host='fpn_resnet', dataset='stopsign', merge='draft'),
                'resnet50': dict(host='resnet', dataset='imagenet', version='paper')}


def model_name(host, tag, b=None):
    """Zoo name of ``host`` with fusion ``tag`` and ``b`` blocks per stage, from the model cards.

    ``host`` is a column host of ``paper_tables.json``: ``resnet`` (CIFAR ResNet-20-b, paper
    version), ``inception_resnet`` (CIFAR Inception-ResNet-20-b), ``fpn`` (ResNet-20-b + FPN on
    StopSign) or ``resnet50`` (ImageNet ResNet-50, paper version).
    """
    from ..model_zoo import find_models
    if host not in _TABLE_HOSTS:
        raise ValueError('unknown host %r (expected resnet, inception_resnet, fpn or resnet50)'
                         % (host,))
    criteria = dict(_TABLE_HOSTS[host], fusion=tag, **({} if b is None else {'blocks': b}))
    names = find_models(**criteria)
    if len(names) != 1:
        raise ValueError('no single zoo model for %s (found %s)' % (criteria, names or 'none'))
    return names[0]


def table_title(table):
    """Title of ``table`` (one of :data:`TRAINING_TABLES` or ``'table7'``)."""
    if table == 'released':
        return ('Released open-aff models (final code; chains of warm-started stages, the '
                'last stage\'s figure from its .params file name)')
    tables = load_paper_tables()['tables']
    if table not in tables:
        raise ValueError('unknown table %r (expected one of %s)'
                         % (table, ', '.join(sorted(tables) + ['released'])))
    return tables[table]['title']


def _ablation_cells(name, table):
    """Cells of Tables 3, 4 and 6: rows x columns x b, trained with the paper-version recipe
    (the same runs for the three tables); Table 3's ImageNet column with its logged runs."""
    cells = []
    for row, row_data in table['rows'].items():
        for column, col in table['columns'].items():
            values = row_data[column]
            labels = 'coarse' if col['task'] == 'cifar' else None
            host_label = col['label'] + (' (host inferred)' if name == 'table6' else '')
            if isinstance(values, list):
                for b, value in enumerate(values, 1):
                    run = RunSpec(col['task'], model_name(col['host'], row, b), 'paper', labels)
                    cells.append(Cell(name, row, column, b, '%s, %s, b = %d' % (
                        row_data['label'], host_label, b), col['metric'], value, None, run,
                        'no log of the paper-version ablation runs ships'))
            else:
                preset = get_preset(TABLE3_IMAGENET_PRESETS[row], 'imagenet')
                run = RunSpec(col['task'], preset.model, preset.name)
                cells.append(Cell(name, row, column, None, '%s, %s' % (
                    row_data['label'], host_label), col['metric'], values,
                    round(1.0 - preset.stages[0].logged, 6), run, _run_source(preset, 0)))
    return cells


def _table5_cells(table):
    cells = []
    for row, row_data in table['rows'].items():
        model = row_data.get('model')
        if not model:
            cells.append(Cell('table5', row, None, None, row_data['label'], 'top1_err_pct',
                              row_data['top1_err'], None, None, 'quoted from another paper'))
            continue
        preset = get_preset(TABLE5_PRESETS[model], 'imagenet')
        released = get_preset('openaff-' + TABLE5_PRESETS[model][len('paper-'):], 'imagenet')
        cells.append(Cell('table5', row, None, None, row_data['label'], 'top1_err_pct',
                          row_data['top1_err'], round(100.0 * preset.stages[0].logged, 4),
                          RunSpec('imagenet', preset.model, preset.name),
                          '%s; the released final model (%s) has %.2f' % (
                              _run_source(preset, 0), released.name,
                              100.0 * released.released)))
    return cells


def released_presets():
    """The model presets of the final code (``openaff-*``): the released checkpoints."""
    from ..training.recipe import PRESETS
    return [p for p in PRESETS.values() if p.model and p.code == 'final']


def _released_cells():
    cells = []
    for preset in released_presets():
        for index, stage in enumerate(preset.stages):
            last = index == len(preset.stages) - 1
            label = preset.description.split(' (')[0]
            if preset.is_chain:
                label += ': stage %d of %d (%s)' % (
                    index + 1, len(preset.stages),
                    'from stage %d\'s best' % index if stage.warm_start else 'from scratch')
            run = RunSpec(preset.task, preset.model, preset.stage_name(index + 1), preset.labels)
            source = _run_source(preset, index)
            value = stage.logged
            if last:
                value = preset.released
                source = ('released checkpoint: its .params file name (the log\'s best: %s, %s)'
                          % (('%.6f' % stage.logged).rstrip('0'), source))
            cells.append(Cell('released', preset.stage_name(index + 1), None, None, label,
                              preset.metric, None, value, run, source))
    return cells


def training_cells(tables=None):
    """Every trained cell of ``tables`` (default: all of :data:`TRAINING_TABLES`), in order.

    Table 5 rows of other papers' networks are included with ``run=None``.
    """
    tables = list(TRAINING_TABLES if tables is None else tables)
    unknown = [t for t in tables if t not in TRAINING_TABLES]
    if unknown:
        raise ValueError('unknown table(s) %s; trained tables are %s'
                         % (', '.join(map(repr, unknown)), ', '.join(TRAINING_TABLES)))
    paper = load_paper_tables()['tables']
    cells = []
    for name in tables:
        if name in ('table3', 'table4', 'table6'):
            cells.extend(_ablation_cells(name, paper[name]))
        elif name == 'table5':
            cells.extend(_table5_cells(paper['table5']))
        else:
            cells.extend(_released_cells())
    return cells


def runs_of(cells, tasks=None):
    """Distinct :class:`RunSpec` of ``cells`` in first-seen order (optionally only ``tasks``)."""
    if tasks is not None:
        bad = [t for t in tasks if t not in _TASKS]
        if bad:
            raise ValueError('unknown task(s) %s; expected %s' % (bad, ', '.join(_TASKS)))
    seen = collections.OrderedDict()
    for cell in cells:
        if cell.run is not None and (tasks is None or cell.run.task in tasks):
            seen.setdefault(cell.run, None)
    return list(seen)
