"""The lr-schedule builder against hand-computed values, MXNet's own ImageRecordIter and the
Namespace lines of the original's logs (copied here from the logs in tests/data/openaff_logs)."""
import math

import mxnet as mx
import pytest

from gluon_aff.data.imagenet import write_tiny_recordio
from gluon_aff.reproduce.openaff_logs import code_version, log_task, parse_namespace
from gluon_aff.training.schedule import (ScheduleArgs, build_lr_schedule, iters_per_epoch,
                                         lr_trace, recordio_epoch_lengths,
                                         schedule_from_namespace)

# Namespace lines of original logs (tests/data/openaff_logs/<path>.lr.gz), shortened to the
# options that matter here; the values are the logs' own.
FINAL_CIFAR_COSINE = ("Namespace(askc_type='ASKCFuse', auto_aug=True, batch_size=128, blocks=5, "
                      "cosine=True, dataset='cifar100', gpus='0,1,2,3', lr=0.2, lr_decay=0.1, "
                      "lr_decay_epoch='300,450', lr_decay_period=0, num_epochs=640, "
                      "no_wd=True, resume_from='./params/0.9031-cifar100-cifar100-ASKCFuse-"
                      "resnet-32-c-4-s-1-best.params', warmup_epochs=20, warmup_lr=0.0)")
FINAL_CIFAR_STEP = ("Namespace(askc_type='ASKCFuse', auto_aug=True, batch_size=128, blocks=4, "
                    "cosine=False, dataset='cifar100', gpus='0,1,2,3', lr=0.2, lr_decay=0.1, "
                    "lr_decay_epoch='300,450', lr_decay_period=0, num_epochs=640, no_wd=False, "
                    "warmup_epochs=20, warmup_lr=0.0)")
PAPER_CIFAR = ("Namespace(batch_size=128, blocks=1, channel_times=1, dataset='cifar100', "
               "gpus='0,1', lr=0.2, lr_decay=0.1, lr_decay_epoch='200,300,350', "
               "lr_decay_period=0, model='resnext38_32x4d', num_epochs=400)")
IMAGENET = ("Namespace(askc_type='ASKCFuse', auto_aug=True, batch_size=128, input_size=224, "
            "lr=0.075, lr_decay=0.1, lr_decay_epoch='40,60', lr_decay_period=0, "
            "lr_mode='cosine', num_epochs=240, num_gpus=4, num_layer=50, resume_epoch=0, "
            "resume_states='', use_rec=True, warmup_epochs=5, warmup_lr=0.0)")
RESUMED = ("Namespace(batch_size=128, lr=0.075, lr_decay=0.1, lr_decay_epoch='40,60', "
           "lr_decay_period=0, lr_mode='cosine', model='resnet50_v1b', num_epochs=160, "
           "num_gpus=2, rec_train='~/.mxnet/datasets/imagenet/rec/train.rec', resume_epoch=65, "
           "resume_states='/work/yimian/codes/MXIce2/params_resnet50_v1b_best_div16/"
           "imagenet-resnet50_v1b-69.states', use_rec=True, warmup_epochs=5, warmup_lr=0.0)")


def test_namespace_values_are_typed():
    ns = parse_namespace('INFO:root:' + FINAL_CIFAR_COSINE)
    assert ns['lr'] == 0.2 and ns['num_epochs'] == 640 and ns['cosine'] is True
    assert ns['gpus'] == '0,1,2,3' and ns['resume_from'].endswith('best.params')
    assert parse_namespace("Namespace(a=None, b='x\\n\\n', c=1e-4)") == {
        'a': None, 'b': 'x\n\n', 'c': 1e-4}
    assert (log_task(ns), code_version(ns)) == ('cifar', 'final')
    assert code_version(parse_namespace(PAPER_CIFAR)) == 'paper'
    assert (log_task(parse_namespace(IMAGENET)), code_version(parse_namespace(IMAGENET))) == \
        ('imagenet', 'final')
    assert code_version(parse_namespace(RESUMED)) == 'paper'
    with pytest.raises(ValueError, match='not a Namespace'):
        parse_namespace('[Epoch 1] train=0.1')


def test_warmup_cosine_by_hand():
    # gluoncv: linear factor T / (niters - 1), cosine (1 + cos(pi T / (niters - 1))) / 2
    sched = build_lr_schedule(0.2, 640, 97, 'cosine', warmup_epochs=20)
    assert sched(1) == pytest.approx(0.2 * 1 / 1939)
    assert sched(97) == pytest.approx(0.010005, abs=5e-7)    # logged after epoch 0
    assert sched(1939) == pytest.approx(0.2)
    assert sched(1940) == pytest.approx(0.2)                  # cosine T = 0
    assert sched(1941) == pytest.approx(0.1 * (1 + math.cos(math.pi / 60139)))
    assert sched(640 * 97) == pytest.approx(0.0, abs=1e-12)
    no_warmup = build_lr_schedule(1.0, 10, 10, 'cosine')
    assert no_warmup(1) == pytest.approx(0.5 * (1 + math.cos(math.pi / 99)))


def test_step_modes_by_hand():
    # the original's by-hand path: the decay starts with the first update of its epoch
    epoch_step = build_lr_schedule(1.0, 4, 10, 'epoch-step', decay_epochs=[2, 3],
                                   decay_factor=0.5)
    assert [epoch_step(e * 10 + b + 1) for e in range(4) for b in (0, 9)] == \
        pytest.approx([1, 1, 1, 1, 0.5, 0.5, 0.25, 0.25])
    # gluoncv 'step' in the warm-up sequence counts updates: update d * 10 is the last of d - 1
    step = build_lr_schedule(1.0, 6, 10, 'step', warmup_epochs=1, decay_epochs=[3])
    assert step(10) == pytest.approx(1.0) and step(29) == pytest.approx(1.0)
    assert step(30) == pytest.approx(0.1) and step(31) == pytest.approx(0.1)
    assert build_lr_schedule(0.3, 3, 5, 'constant')(15) == pytest.approx(0.3)
    poly = build_lr_schedule(0.01, 3, 10, 'poly', power=0.9)
    assert poly(11) == pytest.approx(0.01 * (1 - 11 / 29.0) ** 0.9)


def test_builder_rejects_bad_arguments():
    with pytest.raises(ValueError, match='lr mode must be one of'):
        build_lr_schedule(0.1, 10, 10, 'exp')
    with pytest.raises(ValueError, match='no warm-up'):
        build_lr_schedule(0.1, 10, 10, 'epoch-step', warmup_epochs=2)
    with pytest.raises(ValueError, match='warmup_epochs'):
        build_lr_schedule(0.1, 10, 10, 'cosine', warmup_epochs=10)
    with pytest.raises(ValueError, match='must be positive'):
        build_lr_schedule(0.1, 10, 0)


def test_iters_per_epoch():
    assert iters_per_epoch(50000, 512) == 97 and iters_per_epoch(50000, 256) == 195
    assert iters_per_epoch(50000, 512, 'keep') == 98
    assert iters_per_epoch(1281167, 512) == 2502
    with pytest.raises(ValueError, match='last_batch'):
        iters_per_epoch(10, 3, 'drop')


@pytest.mark.parametrize('samples,batch', [(10, 4), (23, 5)])
def test_recordio_epoch_lengths_are_mxnets(tmp_path, samples, batch):
    """The batches ImageRecordIter really gives per epoch when reset after each.

    (Not reset before the first epoch: a ``reset()`` right after creation races with the
    prefetcher, which may already have run through a tiny epoch; the original's first reset
    came long after creation, before the prefetcher could reach the end of an ImageNet epoch.)
    """
    rec, idx, _ = write_tiny_recordio(str(tmp_path / 'tiny'), num_images=samples, size=16)
    it = mx.io.ImageRecordIter(path_imgrec=rec, path_imgidx=idx, batch_size=batch,
                               data_shape=(3, 8, 8), shuffle=True, preprocess_threads=1)
    counts = []
    for epoch in range(6):
        if epoch:
            it.reset()
        counts.append(sum(1 for _ in it))
    assert recordio_epoch_lengths(samples, batch, 6) == counts
    assert counts != [int(math.ceil(samples / float(batch)))] * 6


def test_final_cifar_runs():
    cosine = schedule_from_namespace(parse_namespace(FINAL_CIFAR_COSINE))
    assert (cosine.mode, cosine.warmup_epochs, cosine.iters_per_epoch, cosine.total_batch) == \
        ('cosine', 20, 97, 512)
    step = schedule_from_namespace(parse_namespace(FINAL_CIFAR_STEP))
    # no warm-up on this path, but the decays are shifted by --warmup-epochs: 280, 430
    assert (step.mode, step.warmup_epochs, step.decay_epochs) == ('epoch-step', 0, (280, 430))
    lr = {(e, b): v for e, b, v in lr_trace(step)}
    assert lr[(0, 0)] == pytest.approx(0.2) and lr[(279, 96)] == pytest.approx(0.2)
    assert lr[(280, 0)] == pytest.approx(0.02) and lr[(430, 0)] == pytest.approx(0.002)
    assert len(lr) == 640 * 97


def test_paper_cifar_run_is_not_shifted():
    args = schedule_from_namespace(parse_namespace(PAPER_CIFAR))
    assert (args.mode, args.decay_epochs, args.iters_per_epoch) == \
        ('epoch-step', (200, 300, 350), 50000 // 256)


def test_imagenet_run_counts_recordio_batches():
    args = schedule_from_namespace(parse_namespace(IMAGENET))
    assert (args.iters_per_epoch, args.total_batch, args.start_update) == (2502, 512, 0)
    assert args.epoch_lengths[:4] == [2503, 2502, 2502, 2503]
    assert args.update_count(1, 0) == 2504
    folder = schedule_from_namespace(dict(parse_namespace(IMAGENET), use_rec=False))
    assert folder.epoch_lengths is None and folder.update_count(1, 0) == 2503
    with pytest.raises(ValueError, match='outside epoch 1'):
        args.update_count(1, 2502)


def test_resumed_imagenet_run():
    args = schedule_from_namespace(parse_namespace(RESUMED))
    lengths = recordio_epoch_lengths(1281167, 256, 160)
    assert args.start_epoch == 65 and args.start_update == sum(lengths[:70])
    # the resumed process read a fresh iterator from its first epoch (65) on
    assert args.epoch_lengths[65:67] == lengths[:2]
    assert args.update_count(65, 0) == sum(lengths[:70]) + 1
    assert schedule_from_namespace(parse_namespace(RESUMED), resume_update=7).start_update == 7
    no_states = schedule_from_namespace(dict(parse_namespace(RESUMED), resume_states=''))
    assert no_states.start_update == 0


def test_schedule_args_round_trip():
    args = ScheduleArgs(lr=0.1, epochs=3, iters_per_epoch=4, mode='epoch-step',
                        decay_epochs=(2,))
    assert [v for _, _, v in lr_trace(args)] == pytest.approx([0.1] * 8 + [0.01] * 4)
    assert ScheduleArgs(**args.as_dict()) == args
