"""The paper's result tables and the original code's logged results, as cells to reproduce.

The numbers live in two data files next to this module (each names its source):

* ``data/paper_tables.json``: Tables 3, 4, 5 (main text) and 6, 7 (supplement) of
  Dai et al., *Attentional Feature Fusion*, WACV 2021, copied by hand from the paper;
* ``data/openaff_logs.json``: the best results logged by the original open-aff code (final
  version): the released checkpoints' accuracies / top-1 errors.

A :class:`Cell` is one number of a table (paper value, original-log value) plus the
:class:`RunSpec` of the training run of this project that measures it. Cells sharing a run (the AFF
row of Tables 3 and 4 is one model) point to the same :class:`RunSpec`, so every run is trained
once.
"""
import collections
import json
import os

__all__ = ['RunSpec', 'Cell', 'DATA_DIR', 'RECIPE_EPOCHS', 'TRAINING_TABLES', 'load_paper_tables',
           'load_openaff_logs', 'model_name', 'training_cells', 'runs_of', 'table_title']

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')

#: epochs of each recipe, as the original code / paper ran them (see docs/reproducing.md):
#: CIFAR paper (Table 2) 400, CIFAR final (open-aff train_cifar.py) 640, ImageNet paper (Table 2)
#: 160, ImageNet final 240, StopSign segmentation (Table 2) 300.
RECIPE_EPOCHS = {('cifar', 'paper'): 400, ('cifar', 'final'): 640,
                 ('imagenet', 'paper'): 160, ('imagenet', 'final'): 240,
                 ('segmentation', 'paper'): 300}

#: tables whose cells are training runs (Table 7 is computed, not trained)
TRAINING_TABLES = ('table3', 'table4', 'table5', 'table6', 'released')

_TASKS = ('cifar', 'imagenet', 'segmentation')


class RunSpec(collections.namedtuple('RunSpec', 'task model recipe labels mixup')):
    """One training configuration of this project (seed excluded).

    Attributes
    ----------
    task : {'cifar', 'imagenet', 'segmentation'}
        Which training script runs it.
    model : str
        Zoo name passed as ``--model``.
    recipe : {'paper', 'final'}
        Training recipe (``paper``: the paper's Table 2; ``final``: the released open-aff code).
    labels : {'coarse', 'fine'} or None
        CIFAR-100 label set (``coarse``: the 20 super-classes the original code used).
    mixup : bool
        Add ``--mixup`` to a recipe without it (Table 6: the supplement trained its networks with
        mixup, while the paper recipe of the other ablations has none).
    """
    __slots__ = ()

    def __new__(cls, task, model, recipe, labels=None, mixup=False):
        return super(RunSpec, cls).__new__(cls, task, model, recipe, labels, mixup)

    @property
    def epochs(self):
        """Planned epochs of the recipe (:data:`RECIPE_EPOCHS`)."""
        return RECIPE_EPOCHS[(self.task, self.recipe)]

    def run_name(self, seed):
        """Directory name of this run with ``seed`` under the runs directory."""
        parts = [self.model, self.recipe] + ([self.labels] if self.labels else []) + (
            ['mixup'] if self.mixup else [])
        return '-'.join(parts + ['s%d' % seed])


class Cell(collections.namedtuple('Cell', 'table row column b label metric paper original run')):
    """One number of a table.

    Attributes
    ----------
    table, row, column : str
        Keys in the data files (``column`` is ``None`` for single-column tables).
    b : int or None
        Blocks per stage of the ResNet-20-b style hosts.
    label : str
        Human readable description (row / column / b).
    metric : {'val_acc', 'val_miou', 'top1_err'}
        What the value measures; ``top1_err`` is in percent for Table 5 and in [0, 1] for the
        original logs (as they were published).
    paper, original : float or None
        The paper's value and the original code's logged value (``None``: not published).
    run : RunSpec or None
        The run that measures it (``None``: not trained by this project, e.g. quoted networks).
    """
    __slots__ = ()

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


def load_openaff_logs():
    """The content of ``data/openaff_logs.json`` (``{'source': ..., 'runs': {...}, ...}``)."""
    return _load('openaff_logs.json')


#: the column hosts of ``paper_tables.json`` -> the model cards they select
_TABLE_HOSTS = {'resnet': dict(host='resnet', dataset='cifar100', version='paper'),
                'inception_resnet': dict(host='inception_resnet', dataset='cifar100'),
                'fpn': dict(host='fpn_resnet', dataset='stopsign'),
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
        return 'Released open-aff models (best results logged by the original final code)'
    tables = load_paper_tables()['tables']
    if table not in tables:
        raise ValueError('unknown table %r (expected one of %s)'
                         % (table, ', '.join(sorted(tables) + ['released'])))
    return tables[table]['title']


def _ablation_cells(name, table):
    """Cells of Tables 3, 4 and 6: rows x columns x b, trained with the paper recipe (Table 6
    with mixup, as the supplement says)."""
    cells = []
    mixup = name == 'table6'
    for row, row_data in table['rows'].items():
        for column, col in table['columns'].items():
            values = row_data[column]
            labels = 'coarse' if col['task'] == 'cifar' else None
            if isinstance(values, list):
                for b, value in enumerate(values, 1):
                    run = RunSpec(col['task'], model_name(col['host'], row, b), 'paper', labels,
                                  mixup)
                    cells.append(Cell(name, row, column, b, '%s, %s, b = %d' % (
                        row_data['label'], col['label'], b), col['metric'], value, None, run))
            else:
                run = RunSpec(col['task'], model_name(col['host'], row), 'paper', labels, mixup)
                cells.append(Cell(name, row, column, None, '%s, %s' % (
                    row_data['label'], col['label']), col['metric'], values, None, run))
    return cells


def _table5_cells(table, logs):
    cells = []
    for row, row_data in table['rows'].items():
        model = row_data.get('model')
        run = RunSpec('imagenet', model, 'final', None) if model else None
        original = logs['runs'].get(model, {}).get('value') if model else None
        cells.append(Cell('table5', row, None, None, row_data['label'], 'top1_err',
                          row_data['top1_err'],
                          None if original is None else round(100.0 * original, 2), run))
    return cells


def _released_cells(logs):
    cells = []
    for key, entry in logs['runs'].items():
        run = RunSpec(entry['task'], entry['model'], entry['recipe'], entry.get('labels'))
        cells.append(Cell('released', key, None, None, entry['label'], entry['metric'], None,
                          entry['value'], run))
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
    logs = load_openaff_logs()
    cells = []
    for name in tables:
        if name in ('table3', 'table4', 'table6'):
            cells.extend(_ablation_cells(name, paper[name]))
        elif name == 'table5':
            cells.extend(_table5_cells(paper['table5'], logs))
        else:
            cells.extend(_released_cells(logs))
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
