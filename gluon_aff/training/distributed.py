"""Launching and watching MXNet parameter-server jobs (scheduler + servers + workers).

MXNet's ``kvstore('dist_*')`` reads its topology from ``DMLC_*`` environment variables; a
process whose ``DMLC_ROLE`` is ``scheduler`` or ``server`` turns into that role when it imports
``mxnet`` and never returns to the caller's code. Workers run the training command; servers and
the scheduler run :data:`SERVER_COMMAND` (``gluon_aff/training/ps_server.py`` by path), which
makes gluoncv's lr schedulers unpicklable on the servers (see that file; with the training
command itself the servers silently drop the optimizer).

MXNet's transport (ps-lite) waits forever for a peer that died: a killed worker leaves the other
workers blocked in their next push, the servers waiting for its gradients and the scheduler
waiting for the final barrier. Two guards end such a job in bounded time:

* :class:`LocalJob` (``scripts/launch_dist.py``) starts this machine's processes and watches
  them all: as soon as one fails (non-zero status, a signal, a server or the scheduler gone
  while workers still run) it stops the others and raises :class:`DistLaunchError` naming the
  process. One machine: the whole job; on a cluster, one launcher per host with its share.
* Every worker runs a :class:`Watchdog` (started by
  :func:`~gluon_aff.training.imagenet.create_kvstore`, fed by every trainer step): with no step
  for ``GLUON_AFF_DIST_TIMEOUT`` seconds (default 900) it prints one ``error:`` line and exits
  with :data:`STALLED_EXIT_CODE`. That covers peers on other hosts; their launchers then stop
  the rest. Before joining, every process checks that the scheduler's address answers
  (:func:`wait_for_scheduler`, ``GLUON_AFF_DIST_CONNECT_TIMEOUT`` seconds, default 60) and
  fails with the address instead of waiting forever.

This module imports only the standard library: ``ps_server.py`` loads it by path before
``import mxnet``.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

__all__ = ['free_port', 'dmlc_env', 'launch_local', 'LocalJob', 'DistLaunchError',
           'SchedulerUnreachableError', 'SERVER_COMMAND', 'STALLED_EXIT_CODE', 'TIMEOUT_ENV',
           'CONNECT_TIMEOUT_ENV', 'env_seconds', 'scheduler_address', 'wait_for_scheduler',
           'Watchdog', 'start_watchdog', 'feed_watchdog']

#: command of the server and scheduler processes
SERVER_COMMAND = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               'ps_server.py')]
#: seconds a worker may go without a finished trainer step before its watchdog stops it
TIMEOUT_ENV = 'GLUON_AFF_DIST_TIMEOUT'
#: seconds every process keeps trying to reach the scheduler before giving up
CONNECT_TIMEOUT_ENV = 'GLUON_AFF_DIST_CONNECT_TIMEOUT'
#: exit status of a process stopped by its :class:`Watchdog`
STALLED_EXIT_CODE = 3


class DistLaunchError(RuntimeError):
    """A process of the job failed or the job exceeded its time limit."""


class SchedulerUnreachableError(ValueError):
    """The scheduler's address does not answer (a user error: one ``error:`` line)."""


def free_port(host='127.0.0.1'):
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def dmlc_env(role, num_workers, num_servers, port, host='127.0.0.1', node_host=None):
    """The ``DMLC_*`` variables of one process of a parameter-server job (``host``: the
    scheduler's address; ``node_host``: this process's own, default ``host``)."""
    if role not in ('scheduler', 'server', 'worker'):
        raise ValueError("role must be scheduler, server or worker, got %r" % (role,))
    if num_workers < 1 or num_servers < 1:
        raise ValueError('need at least one worker and one server, got %d and %d'
                         % (num_workers, num_servers))
    return {'DMLC_ROLE': role, 'DMLC_PS_ROOT_URI': host, 'DMLC_PS_ROOT_PORT': str(port),
            'DMLC_NUM_WORKER': str(num_workers), 'DMLC_NUM_SERVER': str(num_servers),
            'DMLC_NODE_HOST': node_host or host, 'PS_VERBOSE': '0'}


def env_seconds(name, default, env=None):
    """A positive number of seconds from environment variable ``name`` (``default`` if unset)."""
    text = (os.environ if env is None else env).get(name)
    if text in (None, ''):
        return float(default)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError('%s must be a positive number of seconds, got %r' % (name, text))
    return value


def scheduler_address(env=None):
    """``(host, port)`` of the scheduler from ``DMLC_PS_ROOT_URI`` / ``DMLC_PS_ROOT_PORT``."""
    env = os.environ if env is None else env
    host, port = env.get('DMLC_PS_ROOT_URI'), env.get('DMLC_PS_ROOT_PORT')
    if not host or not port:
        raise ValueError('a distributed run needs DMLC_PS_ROOT_URI and DMLC_PS_ROOT_PORT (the '
                         "scheduler's address; see docs/imagenet.md), got %r and %r"
                         % (host, port))
    try:
        return host, int(port)
    except ValueError:
        raise ValueError('DMLC_PS_ROOT_PORT must be a port number, got %r' % (port,)) from None


def wait_for_scheduler(host, port, timeout):
    """Return once ``host:port`` accepts a TCP connection; retry for ``timeout`` seconds (the
    scheduler may start a moment later), then raise :class:`SchedulerUnreachableError`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2.0):
                return
        except OSError as err:
            reason = err.strerror or str(err)
        if time.monotonic() >= deadline:
            raise SchedulerUnreachableError(
                'cannot reach the parameter-server scheduler at %s:%d (DMLC_PS_ROOT_URI:'
                'DMLC_PS_ROOT_PORT) within %g s: %s. Start the scheduler first (DMLC_ROLE='
                'scheduler python gluon_aff/training/ps_server.py, or scripts/launch_dist.py), '
                'check the address and port, or raise %s'
                % (host, port, timeout, reason, CONNECT_TIMEOUT_ENV))
        time.sleep(0.2)


class Watchdog(object):
    """Ends this process when :meth:`feed` is not called for ``timeout`` seconds.

    A thread checks the time since the last :meth:`feed`; past ``timeout`` it writes ``error:
    <name>: no progress for N s (last: <what was fed>) ...`` to stderr and calls ``os._exit(``
    :data:`STALLED_EXIT_CODE` ``)``: the main thread is then blocked inside MXNet, where no
    Python exception can reach it. Checkpoints are written atomically, so the run resumes from
    the last complete one.
    """

    def __init__(self, timeout, name='distributed training', setting=TIMEOUT_ENV):
        if not timeout > 0:
            raise ValueError('watchdog timeout must be positive, got %r' % (timeout,))
        self.timeout, self.name, self.setting = float(timeout), name, setting
        self._last, self._what = time.monotonic(), 'start'
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name='gluon-aff-watchdog',
                                        daemon=True)

    def start(self):
        self._thread.start()
        return self

    def feed(self, what):
        """Record progress (``what``: a few words for the error message)."""
        self._last, self._what = time.monotonic(), what

    def stop(self):
        self._stop.set()

    def _watch(self):
        while not self._stop.wait(min(1.0, self.timeout / 4.0)):
            idle = time.monotonic() - self._last
            if idle > self.timeout:
                sys.stderr.write(
                    'error: %s: no progress for %.0f s (last: %s). A worker, server or the '
                    'scheduler of this job has probably died, and MXNet waits for it forever; '
                    'stopping this process (exit status %d). Restart the job with --resume '
                    '(the last complete checkpoint is kept); %s sets this limit.\n'
                    % (self.name, idle, self._what, STALLED_EXIT_CODE, self.setting))
                sys.stderr.flush()
                os._exit(STALLED_EXIT_CODE)


_WATCHDOG = None


def start_watchdog(timeout=None, what='start'):
    """The process's :class:`Watchdog` (started once; ``timeout`` default: ``TIMEOUT_ENV``
    or 900 s), fed with ``what``."""
    global _WATCHDOG
    if _WATCHDOG is None:
        _WATCHDOG = Watchdog(timeout or env_seconds(TIMEOUT_ENV, 900)).start()
    _WATCHDOG.feed(what)
    return _WATCHDOG


def feed_watchdog(what):
    """Feed the process's watchdog, if one was started."""
    if _WATCHDOG is not None:
        _WATCHDOG.feed(what)


def _describe_exit(code):
    if code is None:
        return 'still running'
    if code < 0:
        try:
            return 'killed by %s' % signal.Signals(-code).name
        except ValueError:
            return 'killed by signal %d' % -code
    if code == STALLED_EXIT_CODE:
        return 'stopped by its watchdog (no progress, status %d)' % code
    return 'exited with status %d' % code


def _last_error_line(path):
    try:
        with open(path, errors='replace') as f:
            lines = [line.strip() for line in f.readlines()[-200:] if line.strip()]
    except OSError:
        return ''
    errors = [line for line in lines if line.startswith('error:') or 'Error' in line]
    return (errors or lines or [''])[-1][:300]


class LocalJob(object):
    """This machine's processes of a parameter-server job, started and watched together.

    With the defaults the whole job runs here: 1 scheduler on ``host`` (a free port),
    ``num_servers`` servers and ``num_workers`` workers. On a cluster each host runs a share:
    ``local_workers`` / ``local_servers`` (default: all), ``run_scheduler=False`` except on the
    scheduler's host, ``port`` the scheduler's port and ``node_host`` this host's address.

    :meth:`wait` polls every process: it returns when every local worker exited with status 0
    (servers and scheduler then end by themselves, or are stopped after 5 s), and otherwise
    stops every local process as soon as one fails (non-zero status or a signal; a server or
    the scheduler that ended while workers still run 10 s later) and raises
    :class:`DistLaunchError` naming it, how it ended, its last error line and the log folder.

    Parameters
    ----------
    command : list of str
        The workers' command (servers and the scheduler run ``server_command``, default
        :data:`SERVER_COMMAND`).
    env : dict
        Extra environment for every process.
    log_dir : str or None
        ``scheduler.log``, ``server-<i>.log``, ``worker-<i>.log`` (default: inherit stdout and
        stderr). ``<i>`` counts this machine's processes; the kvstore rank can differ.
    """

    def __init__(self, command, num_workers=2, num_servers=2, host='127.0.0.1', port=None,
                 env=None, log_dir=None, server_command=None, local_workers=None,
                 local_servers=None, run_scheduler=True, node_host=None):
        if not command:
            raise ValueError('empty command')
        self.command, self.server_command = list(command), server_command or SERVER_COMMAND
        self.num_workers, self.num_servers = num_workers, num_servers
        self.host, self.node_host = host, node_host or host
        self.port = port or (free_port(host) if run_scheduler else None)
        if self.port is None:
            raise ValueError("give the scheduler's port when it runs on another host")
        local_workers = num_workers if local_workers is None else local_workers
        local_servers = num_servers if local_servers is None else local_servers
        self.roles = ([('scheduler', 0)] if run_scheduler else []) + \
            [('server', i) for i in range(local_servers)] + \
            [('worker', i) for i in range(local_workers)]
        self.env, self.log_dir = dict(env or {}), log_dir
        self.processes = []   # (name, role, Popen)
        self._files = []
        self._ended = {}
        self.started = None

    def start(self):
        base = dict(os.environ, **self.env)
        self.started = time.monotonic()
        for role, i in self.roles:
            penv = dict(base, **dmlc_env(role, self.num_workers, self.num_servers, self.port,
                                         self.host, self.node_host))
            name = role if role == 'scheduler' else '%s %d' % (role, i)
            out = None
            if self.log_dir:
                os.makedirs(self.log_dir, exist_ok=True)
                out = open(self._log_path(name), 'w')
                self._files.append(out)
            cmd = self.command if role == 'worker' else self.server_command
            proc = subprocess.Popen(cmd, env=penv, stdout=out,
                                    stderr=subprocess.STDOUT if out else None,
                                    start_new_session=True)
            self.processes.append((name, role, proc))
        return self

    def _log_path(self, name):
        return os.path.join(self.log_dir, name.replace(' ', '-') + '.log')

    def process(self, name):
        """The ``Popen`` of ``'scheduler'``, ``'server <i>'`` or ``'worker <i>'``."""
        for pname, _, proc in self.processes:
            if pname == name:
                return proc
        raise KeyError(name)

    def wait(self, timeout=None, poll=0.1):
        """Wait for the workers; return their exit codes (all 0) or raise
        :class:`DistLaunchError`. Every local process is stopped when this returns."""
        deadline = None if timeout is None else self.started + timeout
        try:
            while True:
                failure = self._failure()
                if failure:
                    name, proc = failure
                    raise DistLaunchError(self._report(name, proc))
                workers = [p for _, role, p in self.processes if role == 'worker']
                if workers and all(p.poll() == 0 for p in workers):
                    self._wait_servers(5.0)
                    return [p.returncode for p in workers]
                if not workers and all(p.poll() == 0 for _, _, p in self.processes):
                    return []  # a host without workers: its servers ended by themselves
                if deadline is not None and time.monotonic() > deadline:
                    raise DistLaunchError('distributed run exceeded %.0f s; stopped all %d '
                                          'processes%s' % (timeout, len(self.processes),
                                                           self._logs_hint()))
                time.sleep(poll)
        finally:
            self.stop()

    def _failure(self, grace=10.0):
        # servers and the scheduler end with status 0 while the workers shut down; one that
        # ended cleanly counts as failed only if workers still run ``grace`` s later
        workers_running = any(p.poll() is None for _, role, p in self.processes
                              if role == 'worker')
        now = time.monotonic()
        for name, role, proc in self.processes:
            code = proc.poll()
            if code is None:
                continue
            if code != 0:
                return name, proc
            if role != 'worker' and workers_running and \
                    now - self._ended.setdefault(name, now) > grace:
                return name, proc
        return None

    def _report(self, name, proc):
        elapsed = time.monotonic() - self.started
        running = [n for n, _, p in self.processes if p.poll() is None]
        tic = time.monotonic()
        self.stop()
        message = '%s (pid %d) %s after %.1f s' % (name, proc.pid,
                                                   _describe_exit(proc.returncode), elapsed)
        if proc.returncode == 0:
            message += ' but the workers still ran %.0f s later' % (
                time.monotonic() - self._ended[name])
        if running:
            message += '; stopped %s in %.1f s' % (', '.join(running), time.monotonic() - tic)
        if self.log_dir:
            line = _last_error_line(self._log_path(name))
            if line:
                message += '; its log ends with: %s' % line
        return message + self._logs_hint() + \
            '. Restart the job with --resume to continue from the last complete checkpoint'

    def _logs_hint(self):
        return ' (logs in %s)' % self.log_dir if self.log_dir else ''

    def _wait_servers(self, seconds):
        # servers and scheduler stop by themselves once the workers are done
        end = time.monotonic() + seconds
        for _, _, proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass

    def stop(self):
        """Kill every process still running (its whole process group) and close the logs."""
        for _, _, proc in self.processes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
        for _, _, proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for f in self._files:
            f.close()
        self._files = []


def launch_local(command, num_workers=2, num_servers=2, timeout=None, env=None, log_dir=None,
                 host='127.0.0.1', server_command=None):
    """Run ``command`` (a list) as ``num_workers`` workers on ``host`` with 1 scheduler and
    ``num_servers`` servers (a :class:`LocalJob`); return the workers' exit codes (all 0) or
    raise :class:`DistLaunchError` (a process failed, or ``timeout`` seconds passed)."""
    job = LocalJob(command, num_workers, num_servers, host, env=env, log_dir=log_dir,
                   server_command=server_command)
    return job.start().wait(timeout)


def main(argv=None):
    """``python scripts/launch_dist.py -n 2 -s 2 [--timeout S] -- python train.py ...``

    One host: the whole job. Several hosts: run it on each with the same ``-n``/``-s``,
    ``--scheduler HOST:PORT`` (the scheduler's host adds ``--run-scheduler``), ``--host`` (this
    host's address) and its share ``--local-workers``/``--local-servers``.
    """
    import argparse
    p = argparse.ArgumentParser(description='Run a command as the workers of an MXNet '
                                'parameter-server job; this host\'s processes are watched '
                                'together and all stopped when one fails.')
    p.add_argument('-n', '--num-workers', type=int, default=2, help='workers of the whole job')
    p.add_argument('-s', '--num-servers', type=int, default=None,
                   help='servers of the whole job (default: = workers)')
    p.add_argument('--scheduler', default=None, metavar='HOST:PORT',
                   help='the scheduler of a multi-host job (default: run one here on '
                   '127.0.0.1 with a free port)')
    p.add_argument('--run-scheduler', action='store_true',
                   help='with --scheduler: this host runs the scheduler')
    p.add_argument('--host', default=None, help="this host's address (default: the "
                   "scheduler's host)")
    p.add_argument('--local-workers', type=int, default=None, help='default: all')
    p.add_argument('--local-servers', type=int, default=None, help='default: all')
    p.add_argument('--timeout', type=float, default=None, help='whole job, seconds')
    p.add_argument('--step-timeout', type=float, default=None,
                   help='seconds a worker may go without a finished step (sets %s; '
                   'default 900)' % TIMEOUT_ENV)
    p.add_argument('--log-dir', default=None)
    p.add_argument('command', nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ['--'] else a.command
    if not command:
        p.error('give the command to run after --')
    num_servers = a.num_servers or a.num_workers
    host, port, run_scheduler = '127.0.0.1', None, True
    if a.scheduler:
        host, _, port_text = a.scheduler.rpartition(':')
        if not host or not port_text.isdigit():
            p.error('--scheduler must be HOST:PORT, got %r' % a.scheduler)
        port, run_scheduler = int(port_text), a.run_scheduler
    env = {TIMEOUT_ENV: str(a.step_timeout)} if a.step_timeout else None
    job = LocalJob(command, a.num_workers, num_servers, host, port, env=env, log_dir=a.log_dir,
                   local_workers=a.local_workers, local_servers=a.local_servers,
                   run_scheduler=run_scheduler, node_host=a.host)
    try:
        job.start().wait(a.timeout)
    except DistLaunchError as err:
        print('launch_dist: %s' % err, file=sys.stderr)
        return 1
    return 0
