"""Write the lr columns of the original open-aff training logs into this folder.

Run by hand (the tests only read its output):
    python tests/data/openaff_logs/extract.py ../shared/reference/logs

For every ``*.log.gz`` under the given folder, ``<same relative path>.lr.gz`` holds, gzip
compressed, the log's ``Namespace(...)`` lines verbatim (one per run, in file order) and after
each the lr values that run printed, one line per epoch:

    <epoch> <first batch> <batch step> <lr_0> <d_1> <d_2> ...

lr values are in units of 1e-6 (the original printed ``%f``): ``lr_0`` is the epoch's first
printed value, ``d_i`` the difference to the previous one. ``<first batch>`` is ``-`` for CIFAR
epoch lines (one value per epoch, printed after the epoch), else the 0-based batch of the first
ImageNet ``Epoch[e] Batch [b]`` line, the next ones following every ``<batch step>`` batches.
"""
import gzip
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', '..'))

from gluon_aff.reproduce.openaff_logs import read_log  # noqa: E402


def extract(log_path, out_path):
    log = read_log(log_path)
    if not log.segments:
        return False  # a best-accuracy file: no run to replay
    with open(log_path, 'rb') as f:
        raw = gzip.decompress(f.read()).decode('utf-8', errors='replace').replace('\x00', '')
    lines = raw.splitlines()
    out = []
    for run in log.segments:
        out.append(lines[run.line - 1])
        by_epoch = {}
        for epoch, batch, lr in run.logged_lr():
            by_epoch.setdefault(epoch, []).append((batch, int(round(lr * 1e6))))
        for epoch, values in by_epoch.items():
            batches = [b for b, _ in values]
            step = batches[1] - batches[0] if len(batches) > 1 else 0
            if batches[0] is not None:
                assert batches == [batches[0] + i * step for i in range(len(batches))], log_path
            lrs = [v for _, v in values]
            deltas = [lrs[0]] + [b - a for a, b in zip(lrs, lrs[1:])]
            out.append('%d %s %d %s' % (epoch, '-' if batches[0] is None else batches[0], step,
                                        ' '.join(str(d) for d in deltas)))
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with gzip.GzipFile(out_path, 'wb', mtime=0) as f:
        f.write(('\n'.join(out) + '\n').encode())
    return True


def main(root):
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.endswith('.log.gz'):
                rel = os.path.relpath(os.path.join(folder, name), root)
                if extract(os.path.join(root, rel),
                           os.path.join(HERE, rel[:-len('.log.gz')] + '.lr.gz')):
                    print(rel)


if __name__ == '__main__':
    main(sys.argv[1])
