"""Entry point of a parameter-server *server* or *scheduler* process (run it by file path).

MXNet turns a process whose ``DMLC_ROLE`` is ``server``/``scheduler`` into that role while
``import mxnet`` is still running, and the server unpickles the workers' optimizer there, lr
scheduler included. gluoncv's schedulers (``gluoncv.utils.LRSequential``) cannot be unpickled in
that state: ``import gluoncv`` needs a fully imported mxnet and fails, the server drops the
optimizer and then merely sums gradients (training silently diverges). This file registers
bare ``gluoncv`` / ``gluoncv.utils`` packages first, so that only
``gluoncv/utils/lr_scheduler.py`` (which needs ``mxnet.lr_scheduler`` alone) is loaded, then
imports mxnet and serves. It imports nothing of ``gluon_aff`` (which would import mxnet first)::

    DMLC_ROLE=server ... python gluon_aff/training/ps_server.py
"""
import importlib.util
import os
import sys
import types


def _register_bare_package(name, locations):
    module = types.ModuleType(name)
    module.__path__ = list(locations)
    sys.modules[name] = module
    return module


def prepare_unpickling():
    """Make ``gluoncv.utils.lr_scheduler`` importable without gluoncv's package imports."""
    spec = importlib.util.find_spec('gluoncv')
    if spec is None or not spec.submodule_search_locations:
        return False
    root = list(spec.submodule_search_locations)
    _register_bare_package('gluoncv', root)
    _register_bare_package('gluoncv.utils', [os.path.join(p, 'utils') for p in root])
    return True


if __name__ == '__main__':
    if os.environ.get('DMLC_ROLE') not in ('server', 'scheduler'):
        sys.exit('ps_server.py runs a parameter-server server or scheduler: set DMLC_ROLE to '
                 'server or scheduler (and DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT, '
                 'DMLC_NUM_SERVER, DMLC_NUM_WORKER)')
    prepare_unpickling()
    import mxnet  # noqa: F401  (serves until the workers are done, then exits)
