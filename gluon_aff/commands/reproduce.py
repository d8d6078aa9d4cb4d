"""Reproduce the paper's tables: print the run plan, check a run, write the report.

  gluon-aff reproduce plan [--tables table3,table4] [--format text|sh|jobs] [--shard 1/4]
  gluon-aff reproduce plan --cifar-gpus ''             # CPU plan for the CIFAR runs
  gluon-aff reproduce status --epochs 400 runs/cifar_aff_resnet_b1-paper-coarse-s0
  gluon-aff reproduce report --runs runs --out report/report.md    # + report/plots/*.png
  gluon-aff reproduce replay LOG_FILE [--segment K]      # the run's gluon-aff command(s)
  gluon-aff reproduce replay LOG_FILE --run -- --data-dir ~/data/cifar100 --gpus 0,1,2,3
  gluon-aff reproduce replay LOG_FILE --lr-trace lr.csv [--segment K]

See docs/reproducing.md.
"""
import shlex
import sys

from ..cli import UserError, make_parser, user_input
from ..reproduce import (DONE, format_plan, make_plan, parse_shard, plots_dir, run_result,
                         write_report)
from ..training.recipe import TASKS


def _csv(text):
    return [t for t in text.split(',') if t] if text else None


def main(argv=None):
    parser = make_parser(__doc__)
    sub = parser.add_subparsers(dest='command', required=True)

    plan = sub.add_parser('plan', help='print the training command of every cell')
    plan.add_argument('--tables', help='comma list of table3,table4,table5,table6,released')
    plan.add_argument('--tasks', help='comma list of cifar,imagenet,segmentation')
    plan.add_argument('--seeds', default='0', help='comma list of seeds (default 0)')
    plan.add_argument('--runs', default='runs', help='runs directory (default runs)')
    plan.add_argument('--format', default='text', choices=('text', 'sh', 'jobs'))
    plan.add_argument('--shard', help='K/N: keep every N-th run starting at the K-th')
    plan.add_argument('--epochs', type=int, help='override every recipe\'s epochs (smoke tests)')
    plan.add_argument('--python', default='python', help='interpreter in the commands')
    for task in TASKS:
        plan.add_argument('--%s-data' % task, help='data folder of the %s runs (--data-dir; '
                          'ImageNet: --rec-dir)' % task)
        plan.add_argument('--%s-gpus' % task, help='--gpus of the %s runs (empty: CPU)' % task)

    status = sub.add_parser('status', help='exit 0 if SAVE_DIR is done, 1 otherwise')
    status.add_argument('save_dir')
    status.add_argument('--epochs', type=int, required=True, help='planned epochs')

    report = sub.add_parser('report', help='write the Markdown + HTML report and the curves '
                            '(plots/ beside --out)')
    report.add_argument('--runs', required=True, help='runs directory')
    report.add_argument('--out', required=True, help='Markdown file (HTML and plots/ next to it)')
    report.add_argument('--tables', help='comma list (default: all, table7 included)')
    report.add_argument('--seeds', default='0', help='comma list of seeds (default 0)')
    report.add_argument('--epochs', type=int, help='planned epochs if the plan overrode them')
    report.add_argument('--no-params', action='store_true',
                        help='skip building the Table 5 models for their parameter counts')
    replay = sub.add_parser('replay', help='replay a run of an original open-aff log')
    replay.add_argument('log', help='training log of the original (plain or .gz)')
    replay.add_argument('--segment', type=int,
                        help='0-based run of the log (its Namespace lines; default: the last '
                             'run that trained)')
    replay.add_argument('--lr-trace', metavar='FILE',
                        help='write epoch,batch,lr of every update of the run (no training)')
    replay.add_argument('--run', action='store_true',
                        help='run the printed command(s), in order (a chain stage by stage)')
    replay.add_argument('--runs', default='runs', help='runs directory (default runs)')
    replay.add_argument('--labels', choices=['coarse', 'fine'],
                        help='CIFAR-100 label set, which a log cannot tell (default: the '
                             "preset's, else coarse)")
    replay.add_argument('--model', help='zoo name, when the log cannot tell the network')
    replay.add_argument('--', dest='extra', metavar='FLAGS', nargs='*', default=[],
                        help='(last) flags added to every training command, e.g. -- '
                             '--data-dir ~/data/cifar100 --gpus 0')
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index('--') + 1:] if '--' in argv else []
    args = parser.parse_args(argv[:argv.index('--')] if '--' in argv else argv)
    args.extra = extra

    with user_input():
        if args.command == 'plan':
            entries = make_plan(
                tables=_csv(args.tables), tasks=_csv(args.tasks),
                seeds=[int(s) for s in _csv(args.seeds)], runs_dir=args.runs,
                data_dirs={t: getattr(args, '%s_data' % t) for t in TASKS
                           if getattr(args, '%s_data' % t)},
                gpus={t: getattr(args, '%s_gpus' % t) for t in TASKS
                      if getattr(args, '%s_gpus' % t) is not None},
                python=args.python, shard=parse_shard(args.shard) if args.shard else None,
                epochs=args.epochs)
            sys.stdout.write(format_plan(entries, args.format, python=args.python))
        elif args.command == 'status':
            result = run_result(args.save_dir, args.epochs)
            print('%s: %s (%d/%d epochs)' % (args.save_dir, result.status, result.epochs_done,
                                             args.epochs))
            return 0 if result.status == DONE else 1
        elif args.command == 'replay':
            return _replay(args)
        else:
            md, html = write_report(args.runs, args.out, seeds=[int(s) for s in _csv(args.seeds)],
                                    tables=_csv(args.tables), epochs=args.epochs,
                                    params=not args.no_params)
            print('wrote %s, %s and the curves of every run in %s'
                  % (md, html, plots_dir(args.out)))
    return 0


def _replay(args):
    """``reproduce replay``: the lr trace, or the run's commands (printed, or run)."""
    from ..commands import command_main
    from ..reproduce.replay import describe_log, replay_commands, write_lr_trace
    if args.lr_trace:
        index, _, rows = write_lr_trace(args.log, args.lr_trace, segment=args.segment)
        print('wrote %s: %d updates of segment %d' % (args.lr_trace, rows, index))
        return 0
    commands, notes, index = replay_commands(args.log, args.segment, args.runs, args.labels,
                                             args.model)
    commands = [argv + list(args.extra) for argv in commands]
    if not args.run:
        print('\n'.join(describe_log(args.log, args.segment)))
    print('# gluon-aff command%s of segment %d%s:' % (
        's' if len(commands) > 1 else '', index,
        ' (a chain: each stage starts from the previous one\'s best)' if len(commands) > 1
        else ''))
    for argv in commands:
        print(' '.join(shlex.quote(a) for a in argv))
    for note in notes:
        print('# note: %s' % note)
    if args.run:
        for argv in commands:
            if '--model' in argv and argv[argv.index('--model') + 1] == 'NAME':
                raise UserError('the log does not tell the network: give --model NAME')
            print('# running: %s' % ' '.join(shlex.quote(a) for a in argv[:2]), flush=True)
            command_main(argv[1])(argv[2:])
    return 0
