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

Before that, a server checks that the scheduler answers and the scheduler that it can listen on
its address (``distributed.py``, loaded by path), so a wrong address is one ``error:`` line
(exit status 2) instead of a process waiting forever.
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


def _load_distributed():
    """``gluon_aff/training/distributed.py`` without its package (standard library only)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'distributed.py')
    spec = importlib.util.spec_from_file_location('_gluon_aff_distributed', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_address(role, env=None):
    """Scheduler: its address can be listened on. Server: the scheduler answers (for
    ``GLUON_AFF_DIST_CONNECT_TIMEOUT`` seconds). Raises ``ValueError`` naming the address."""
    import socket
    dist = _load_distributed()
    host, port = dist.scheduler_address(env)
    if role == 'scheduler':
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as err:
                raise ValueError('the scheduler cannot listen on %s:%d (DMLC_PS_ROOT_URI:'
                                 'DMLC_PS_ROOT_PORT): %s; run it on that host or pick a free '
                                 'port' % (host, port, err.strerror or err)) from None
    else:
        dist.wait_for_scheduler(host, port, dist.env_seconds(dist.CONNECT_TIMEOUT_ENV, 60, env))


if __name__ == '__main__':
    role = os.environ.get('DMLC_ROLE')
    if role not in ('server', 'scheduler'):
        sys.exit('ps_server.py runs a parameter-server server or scheduler: set DMLC_ROLE to '
                 'server or scheduler (and DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT, '
                 'DMLC_NUM_SERVER, DMLC_NUM_WORKER)')
    try:
        check_address(role)
    except ValueError as err:
        sys.stderr.write('error: %s\n' % err)
        sys.exit(2)
    prepare_unpickling()
    import mxnet  # noqa: F401  (serves until the workers are done, then exits)
