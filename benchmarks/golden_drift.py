#!/usr/bin/env python
"""Worst relative error of every zoo model against its manifest golden (imperative and hybridized).

The manifests (``tests/data/manifests``, recorded from the original open-aff code) hold the output
for weights seeded from each parameter's name; the tolerance of the test suite is 1e-5 x max
|golden|. This prints the error itself, so that an arithmetic rewrite of the fusions (e.g.
``b + w * (a - b)`` for ``a * w + b * (1 - w)``) can be judged by how much of the tolerance it
uses on every golden, not on one:

    python benchmarks/golden_drift.py [REGEX]
"""
import argparse
import os
import re
import sys

import mxnet as mx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))
from helpers import (golden_error, load_manifest, load_seeded, manifest_names,  # noqa: E402
                     seeded_input)

import gluon_aff  # noqa: E402

TOLERANCE = 1e-5


def golden_errors(name):
    """``(imperative error, hybridized error)`` of zoo model ``name`` against its golden."""
    manifest = load_manifest(name)
    net = gluon_aff.get_model(name)
    net.initialize()
    x = mx.nd.array(seeded_input(manifest['input_shape']))
    net(x)
    load_seeded(net, manifest)
    imperative = golden_error(net(x).asnumpy(), manifest)
    net.hybridize(static_alloc=True, static_shape=True)
    hybrid = golden_error(net(x).asnumpy(), manifest)
    return imperative, hybrid


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('pattern', nargs='?', default='', help='regex on the zoo names')
    args = parser.parse_args(argv)
    names = [n for n in manifest_names() if re.search(args.pattern, n)]
    worst = (0.0, None)
    print('%-36s %12s %12s' % ('model', 'imperative', 'hybridized'))
    for name in names:
        errors = golden_errors(name)
        print('%-36s %12.2e %12.2e%s' % (name, errors[0], errors[1],
                                         '  > tolerance' if max(errors) > TOLERANCE else ''))
        worst = max(worst, (max(errors), name))
    print('worst: %.2e (%s) of %d models; tolerance %.0e' % (worst[0], worst[1], len(names),
                                                              TOLERANCE))
    return 0 if worst[0] <= TOLERANCE else 1


if __name__ == '__main__':
    sys.exit(main())
