"""Shared test helpers: the manifests (copied from the original code's reference run) and the
seeding rule that fills every parameter from its structural name alone.

The seeding rule (as documented with the reference manifests): a parameter ``key`` of ``shape``
gets values from ``np.random.RandomState(crc32(key) & 0xFFFFFFFF)``:
``running_var``/``gamma`` ~ U(0.5, 1.5); ``running_mean``/``beta``/``bias`` ~ U(-0.1, 0.1);
anything else (weights) ~ N(0, 1/fan_in) with ``fan_in = prod(shape[1:])``; all float32.
The input is ``RandomState(seed).uniform(-1, 1, shape)``. Two implementations naming their
parameters identically therefore get identical weights and must give identical outputs.
"""
import json
import os
import zlib

import numpy as np

MANIFEST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'manifests')


def seeded_value(key, shape):
    rs = np.random.RandomState(zlib.crc32(key.encode()) & 0xFFFFFFFF)
    shape = tuple(shape)
    if key.endswith(('running_var', 'gamma')):
        value = rs.uniform(0.5, 1.5, shape)
    elif key.endswith(('running_mean', 'beta', 'bias')):
        value = rs.uniform(-0.1, 0.1, shape)
    else:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        value = rs.normal(0.0, np.sqrt(1.0 / max(fan_in, 1)), shape)
    return value.astype(np.float32)


def seeded_params(entries):
    """``entries``: ``[[key, shape], ...]`` as stored in a manifest -> ``{key: ndarray}``."""
    return {key: seeded_value(key, shape) for key, shape in entries}


def seeded_input(shape, seed=0):
    return np.random.RandomState(seed).uniform(-1.0, 1.0, tuple(shape)).astype(np.float32)


def manifest_names(prefix=''):
    """Zoo names with a manifest, optionally only those starting with ``prefix``."""
    return sorted(f[:-5] for f in os.listdir(MANIFEST_DIR)
                  if f.endswith('.json') and f.startswith(prefix))


def load_manifest(name):
    with open(os.path.join(MANIFEST_DIR, name + '.json')) as f:
        return json.load(f)


def structural_shapes(net):
    """``{structural key: shape list}`` of an initialised, shape-resolved network."""
    return {k: list(p.shape) for k, p in net._collect_params_with_prefix().items()}


def load_seeded(net, manifest):
    """Set every parameter of ``net`` to its seeded value (the net must be shape-resolved)."""
    import mxnet as mx
    params = net._collect_params_with_prefix()
    for key, value in seeded_params(manifest['params']).items():
        params[key].set_data(mx.nd.array(value))


def golden_error(output, manifest):
    """Max abs error of ``output`` against the manifest's golden, relative to max |golden|."""
    golden = np.array(manifest['golden']['output'], dtype=np.float32)
    output = np.asarray(output, dtype=np.float32).reshape(golden.shape)
    return float(np.abs(output - golden).max() / np.abs(golden).max())


def param_counts(net):
    """``(all, trainable)`` parameter counts of a shape-resolved network: ``all`` includes the
    BN running statistics (the original README's CIFAR counts), ``trainable`` excludes them
    (``grad_req == 'null'``; the paper's Table 5)."""
    params = net.collect_params().values()
    total = sum(int(np.prod(p.shape)) for p in params)
    trainable = sum(int(np.prod(p.shape)) for p in params if p.grad_req != 'null')
    return total, trainable


def resolved_model(name, input_shape=(1, 3, 32, 32), **kwargs):
    """``get_model(name, **kwargs)``, initialised and run once on zeros (shapes resolved)."""
    import mxnet as mx
    import gluon_aff
    net = gluon_aff.get_model(name, **kwargs)
    net.initialize()
    net(mx.nd.zeros(tuple(input_shape)))
    return net


def check_against_manifest(net, manifest, x=None):
    """Assert that the shape-resolved ``net`` has the manifest's structural keys and shapes and
    both of its parameter counts; then load the seeded weights and return the relative error of
    ``net(x)`` (default: the manifest's seeded input) against the golden output."""
    import mxnet as mx
    assert structural_shapes(net) == {k: s for k, s in manifest['params']}
    assert param_counts(net) == (manifest['num_params_all'], manifest['num_params_trainable'])
    load_seeded(net, manifest)
    x = mx.nd.array(seeded_input(manifest['input_shape'])) if x is None else x
    out = net(x).asnumpy()
    assert list(out.shape) == manifest['output_shape']
    return golden_error(out, manifest)


def requires(module, what):
    """Import an optional dependency or skip the test, saying which package ``what`` needs."""
    import pytest
    return pytest.importorskip(module, reason='%s needs the optional package %s (not installed)'
                               % (what, module.split('.')[0]))
