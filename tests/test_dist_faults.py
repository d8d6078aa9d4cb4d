"""Faults in a parameter-server job on 127.0.0.1, each with a bounded wait.

MXNet's ps-lite waits forever for a dead peer; the launcher (LocalJob) and every worker's
watchdog must end the job instead, with a message naming what failed, and ``--resume`` must
continue from the last complete checkpoint. The jobs train ``cifar_aff_resnet_b1`` (widths
8-32) through ``scripts/train_imagenet.py`` on a generated RecordIO set.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from gluon_aff.training.distributed import (CONNECT_TIMEOUT_ENV, STALLED_EXIT_CODE,  # noqa: E402
                                            TIMEOUT_ENV, DistLaunchError, LocalJob,
                                            dmlc_env, free_port)

PY = sys.executable
#: seconds within which the launcher must have stopped a job after one of its processes died
STOP_BOUND = 5.0
EPOCHS = 6


def _sleeper(seconds):
    return [PY, '-c', 'import time; time.sleep(%g)' % seconds]


def test_launcher_stops_all_when_a_worker_fails(tmp_path):
    """Fake processes: the second worker to start fails after 0.5 s; everything else would
    run 60 s."""
    worker = [PY, '-c', 'import os, sys, time\n'
              'try:\n    os.close(os.open(sys.argv[1], os.O_CREAT | os.O_EXCL))\n'
              'except FileExistsError:\n    time.sleep(0.5); sys.exit("error: boom")\n'
              'time.sleep(60)', str(tmp_path / 'first')]
    job = LocalJob(worker, 2, 2, log_dir=str(tmp_path), server_command=_sleeper(60))
    tic = time.monotonic()
    with pytest.raises(DistLaunchError) as err:
        job.start().wait(timeout=60)
    assert time.monotonic() - tic < STOP_BOUND
    message = str(err.value)
    assert 'exited with status 1' in message and 'error: boom' in message, message
    assert 'stopped scheduler, server 0, server 1, worker' in message
    assert str(tmp_path) in message
    assert all(proc.poll() is not None for _, _, proc in job.processes)


def test_launcher_names_a_killed_server(tmp_path):
    job = LocalJob(_sleeper(60), 2, 2, log_dir=str(tmp_path), server_command=_sleeper(60))
    job.start()
    time.sleep(0.3)
    job.process('server 1').send_signal(signal.SIGKILL)
    tic = time.monotonic()
    with pytest.raises(DistLaunchError, match=r'server 1 \(pid \d+\) killed by SIGKILL'):
        job.wait(timeout=60)
    assert time.monotonic() - tic < STOP_BOUND
    assert all(proc.poll() is not None for _, _, proc in job.processes)


def test_watchdog_ends_a_stalled_process():
    code = ('import time, sys; sys.path.insert(0, %r); '
            'from gluon_aff.training.distributed import Watchdog; '
            'w = Watchdog(0.5, "test job").start(); w.feed("step 1"); time.sleep(30)' % ROOT)
    tic = time.monotonic()
    proc = subprocess.run([PY, '-c', code], capture_output=True, text=True, timeout=30)
    assert time.monotonic() - tic < 10
    assert proc.returncode == STALLED_EXIT_CODE
    assert proc.stderr.startswith('error: test job: no progress for ')
    assert '(last: step 1)' in proc.stderr and TIMEOUT_ENV in proc.stderr


@pytest.mark.parametrize('role', ['worker', 'server'])
def test_scheduler_unreachable_names_the_address(tmp_path, role):
    port = free_port()  # nothing listens there
    env = dict(os.environ, **dmlc_env(role, 1, 1, port))
    env[CONNECT_TIMEOUT_ENV] = '1'
    if role == 'worker':
        cmd = [PY, os.path.join(ROOT, 'scripts', 'train_imagenet.py'), '--kvstore', 'dist_sync',
               '--model', 'cifar_aff_resnet_b1', '--save-dir', str(tmp_path / 'run'),
               '--rec-train', str(tmp_path / 'x.rec'), '--rec-train-idx', str(tmp_path / 'x.idx')]
    else:
        cmd = [PY, os.path.join(ROOT, 'gluon_aff', 'training', 'ps_server.py')]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith('error: cannot reach the parameter-server scheduler at '
                                '127.0.0.1:%d' % port), proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr


def test_scheduler_cannot_listen_names_the_address():
    with __import__('socket').socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = dict(os.environ, **dmlc_env('scheduler', 1, 1, port))
        proc = subprocess.run([PY, os.path.join(ROOT, 'gluon_aff', 'training', 'ps_server.py')],
                              env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith('error: the scheduler cannot listen on 127.0.0.1:%d'
                                          % port), proc.stderr


# --- real jobs -----------------------------------------------------------------------------

def _data(tmp):
    from gluon_aff.data.imagenet import write_tiny_recordio
    prefix = os.path.join(tmp, 'train')
    if not os.path.exists(prefix + '.rec'):
        write_tiny_recordio(prefix, num_images=64, classes=4, size=40, seed=0)
    return prefix


def _train_command(tmp, run, uok=0, resume=False):
    prefix = _data(tmp)
    cmd = [PY, os.path.join(ROOT, 'scripts', 'train_imagenet.py'), '--kvstore', 'dist_sync',
           '--update-on-kvstore', str(uok), '--model', 'cifar_aff_resnet_b1',
           '--model-kwargs', json.dumps({'channels': [8, 8, 16, 32]}),
           '--rec-train', prefix + '.rec', '--rec-train-idx', prefix + '.idx',
           '--classes', '4', '--batch-size', '16', '--lr', str(0.1 * 512 / 16),
           '--epochs', str(EPOCHS), '--warmup-epochs', '1', '--no-mixup',
           '--label-smoothing', '0', '--input-size', '32', '--dtype', 'float32', '-j', '1',
           '--seed', '3', '--save-frequency', '0', '--no-progress', '--save-dir', run]
    return cmd + (['--resume'] if resume else [])


def _job(tmp, run, logs, uok=0, resume=False, **kwargs):
    env = {'OMP_NUM_THREADS': '1', 'MXNET_CPU_WORKER_NTHREADS': '1',
           'PYTHONPATH': ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')}
    env.update(kwargs.pop('env', {}))
    return LocalJob(_train_command(tmp, run, uok, resume), 2, 2, env=env,
                    log_dir=os.path.join(tmp, logs), **kwargs)


def _epoch_done(run):
    try:
        with open(os.path.join(run, 'last.json')) as f:
            return json.load(f)['epoch']
    except (OSError, ValueError, KeyError):
        return None


def _kill_after_first_epoch(job, run, name, limit=90):
    """Start ``job``, SIGKILL process ``name`` once epoch 0 is checkpointed; return the
    launcher's error and the seconds from the kill to the end of the job."""
    job.start()
    deadline = time.monotonic() + limit
    while _epoch_done(run) is None:
        assert time.monotonic() < deadline, 'no checkpoint within %d s' % limit
        assert all(p.poll() is None for _, _, p in job.processes), 'a process ended early'
        time.sleep(0.05)
    job.process(name).send_signal(signal.SIGKILL)
    tic = time.monotonic()
    with pytest.raises(DistLaunchError) as err:
        job.wait(timeout=limit)
    return str(err.value), time.monotonic() - tic


def test_killed_worker_ends_the_job(tmp_path):
    tmp = str(tmp_path)
    run = os.path.join(tmp, 'run')
    message, seconds = _kill_after_first_epoch(_job(tmp, run, 'logs'), run, 'worker 1')
    assert seconds < STOP_BOUND, (seconds, message)
    assert message.startswith('worker 1 (pid ') and 'killed by SIGKILL' in message, message
    assert '--resume' in message
    assert _epoch_done(run) is not None and _epoch_done(run) < EPOCHS - 1


def _final_params(run):
    import mxnet as mx
    return {k: v.asnumpy() for k, v in mx.nd.load(os.path.join(run, 'last.params')).items()}


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """Rank 0's final parameters of an uninterrupted job (shared by the resume tests)."""
    tmp = str(tmp_path_factory.mktemp('reference'))
    reference = os.path.join(tmp, 'run')
    _job(tmp, reference, 'logs').start().wait(timeout=120)
    return _final_params(reference)


@pytest.mark.slow
@pytest.mark.parametrize('victim', ['worker 1', 'server 0'])
def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path, victim, uninterrupted):
    """Worker-side updates (the checkpoint holds the momentum): a job killed after its first
    epoch and relaunched with --resume ends with exactly rank 0's parameters (trainable and BN
    statistics) of an uninterrupted run; its metrics.jsonl has every epoch once."""
    tmp = str(tmp_path)
    run = os.path.join(tmp, 'run')
    message, seconds = _kill_after_first_epoch(_job(tmp, run, 'logs-killed'), run, victim)
    assert seconds < STOP_BOUND and message.startswith(victim), (seconds, message)
    done = _epoch_done(run)
    assert done < EPOCHS - 1
    _job(tmp, run, 'logs-resumed', resume=True).start().wait(timeout=120)
    assert _epoch_done(run) == EPOCHS - 1
    with open(os.path.join(run, 'metrics.jsonl')) as f:
        assert [json.loads(line)['epoch'] for line in f if line.strip()] == list(range(EPOCHS))
    expected, got = uninterrupted, _final_params(run)
    assert sorted(expected) == sorted(got)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


@pytest.mark.slow
def test_two_hosts_watchdog_ends_the_surviving_host(tmp_path):
    """Two launchers as two hosts (scheduler + server 0 + worker on A; server 1 + worker on
    B). Killing B's worker stops host B at once; host A's worker then makes no progress and its
    watchdog (4 s here) stops it, and A's launcher the rest."""
    tmp = str(tmp_path)
    run = os.path.join(tmp, 'run')
    env = {TIMEOUT_ENV: '4'}
    host_a = _job(tmp, run, 'logs-a', env=env, local_workers=1, local_servers=1)
    host_b = _job(tmp, run, 'logs-b', env=env, port=host_a.port, run_scheduler=False,
                  local_workers=1, local_servers=1)
    host_a.start()
    try:
        message_b, seconds_b = _kill_after_first_epoch(host_b, run, 'worker 0')
    finally:
        if host_b.started is None:
            host_a.stop()
    assert seconds_b < STOP_BOUND and 'killed by SIGKILL' in message_b
    tic = time.monotonic()
    with pytest.raises(DistLaunchError) as err:
        host_a.wait(timeout=60)
    seconds_a = time.monotonic() - tic
    message_a = str(err.value)
    assert seconds_a < 4 + STOP_BOUND + 2, (seconds_a, message_a)
    assert message_a.startswith('worker 0') and 'stopped by its watchdog' in message_a
    assert 'no progress for' in message_a
