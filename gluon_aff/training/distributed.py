"""Local launcher for MXNet's parameter-server training (scheduler + servers + workers).

MXNet's ``kvstore('dist_*')`` reads its topology from ``DMLC_*`` environment variables; a
process whose ``DMLC_ROLE`` is ``scheduler`` or ``server`` turns into that role when it imports
``mxnet`` and never returns to the caller's code. Workers run the training command; servers and
the scheduler run :data:`SERVER_COMMAND` (``gluon_aff/training/ps_server.py`` by path), which
makes gluoncv's lr schedulers unpicklable on the servers (see that file; with the training
command itself the servers silently drop the optimizer).

:func:`launch_local` does this on one machine (127.0.0.1, a free port): tests and smoke runs.
For a cluster, set the same variables on every machine (``docs/imagenet.md``).
"""
import os
import signal
import socket
import subprocess
import sys
import time

__all__ = ['free_port', 'dmlc_env', 'launch_local', 'DistLaunchError', 'SERVER_COMMAND']

#: command of the server and scheduler processes
SERVER_COMMAND = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               'ps_server.py')]


class DistLaunchError(RuntimeError):
    """A worker failed or the run exceeded its time limit."""


def free_port(host='127.0.0.1'):
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def dmlc_env(role, num_workers, num_servers, port, host='127.0.0.1'):
    """The ``DMLC_*`` variables of one process of a parameter-server job."""
    if role not in ('scheduler', 'server', 'worker'):
        raise ValueError("role must be scheduler, server or worker, got %r" % (role,))
    if num_workers < 1 or num_servers < 1:
        raise ValueError('need at least one worker and one server, got %d and %d'
                         % (num_workers, num_servers))
    return {'DMLC_ROLE': role, 'DMLC_PS_ROOT_URI': host, 'DMLC_PS_ROOT_PORT': str(port),
            'DMLC_NUM_WORKER': str(num_workers), 'DMLC_NUM_SERVER': str(num_servers),
            'DMLC_NODE_HOST': host, 'PS_VERBOSE': '0'}


def _kill(procs):
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the process group we created for it
            except (ProcessLookupError, PermissionError):
                proc.kill()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def launch_local(command, num_workers=2, num_servers=2, timeout=None, env=None, log_dir=None,
                 host='127.0.0.1', server_command=None):
    """Run ``command`` (a list) as ``num_workers`` workers on ``host``, with 1 scheduler and
    ``num_servers`` servers running ``server_command`` (default :data:`SERVER_COMMAND`); wait
    for the workers, then stop everything.

    Parameters
    ----------
    timeout : float or None
        Seconds before every process is killed and :class:`DistLaunchError` raised.
    env : dict
        Extra environment for every process.
    log_dir : str or None
        Where ``scheduler.log``, ``server-<i>.log``, ``worker-<i>.log`` go (default: inherit
        stdout / stderr).

    Returns the workers' exit codes (all 0, else :class:`DistLaunchError`).
    """
    if not command:
        raise ValueError('empty command')
    port = free_port(host)
    base = dict(os.environ, **(env or {}))
    roles = [('scheduler', 0)] + [('server', i) for i in range(num_servers)] + \
        [('worker', i) for i in range(num_workers)]
    procs, workers, files = [], [], []
    deadline = None if timeout is None else time.time() + timeout
    try:
        for role, i in roles:
            penv = dict(base, **dmlc_env(role, num_workers, num_servers, port, host))
            out = None
            if log_dir:
                os.makedirs(log_dir, exist_ok=True)
                name = role if role == 'scheduler' else '%s-%d' % (role, i)
                out = open(os.path.join(log_dir, name + '.log'), 'w')
                files.append(out)
            cmd = command if role == 'worker' else (server_command or SERVER_COMMAND)
            proc = subprocess.Popen(cmd, env=penv, stdout=out,
                                    stderr=subprocess.STDOUT if out else None,
                                    start_new_session=True)
            procs.append(proc)
            if role == 'worker':
                workers.append(proc)
        codes = []
        for proc in workers:
            left = None if deadline is None else max(0.1, deadline - time.time())
            try:
                codes.append(proc.wait(timeout=left))
            except subprocess.TimeoutExpired:
                raise DistLaunchError('distributed run exceeded %.0f s; all %d processes killed'
                                      % (timeout, len(procs)))
        if any(codes):
            raise DistLaunchError('worker exit codes %s%s' % (
                codes, ' (logs in %s)' % log_dir if log_dir else ''))
        # servers and scheduler stop by themselves once the workers are done; give them a moment
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        return codes
    finally:
        _kill(procs)
        for f in files:
            f.close()


def main(argv=None):
    """``python scripts/launch_dist.py -n 2 -s 2 [--timeout S] -- python train.py ...``"""
    import argparse
    p = argparse.ArgumentParser(description='Run a command as a local MXNet parameter-server '
                                'job (1 scheduler, S servers, N workers on 127.0.0.1).')
    p.add_argument('-n', '--num-workers', type=int, default=2)
    p.add_argument('-s', '--num-servers', type=int, default=None, help='default: = workers')
    p.add_argument('--timeout', type=float, default=None)
    p.add_argument('--log-dir', default=None)
    p.add_argument('command', nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ['--'] else a.command
    if not command:
        p.error('give the command to run after --')
    try:
        launch_local(command, a.num_workers, a.num_servers or a.num_workers, a.timeout,
                     log_dir=a.log_dir)
    except DistLaunchError as err:
        print('launch_dist: %s' % err, file=sys.stderr)
        return 1
    return 0
