#!/usr/bin/env python
"""CPU throughput (img/s) of AFF-/iAFF-ResNet-50 against GluonCV's plain ResNet-50 v1b.

Inference (hybridized, static_alloc) and a training step (forward + backward + SGD update) at
batch 8, all models in the same run, printing the ratios to the baseline.

    python benchmarks/bench_fusion.py [--batch 8] [--iters 5] [--warmup 2] [--size 224]
"""
import argparse
import time

import mxnet as mx
from mxnet import autograd, gluon

import gluon_aff


def _throughput(step, batch, iters, warmup):
    for _ in range(warmup):
        step()
    mx.nd.waitall()
    tic = time.time()
    for _ in range(iters):
        step()
    mx.nd.waitall()
    return batch * iters / (time.time() - tic)


def bench(net, batch, size, iters, warmup):
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.random.uniform(shape=(batch, 3, size, size))
    y = mx.nd.zeros((batch,))
    infer = _throughput(lambda: net(x).wait_to_read(), batch, iters, warmup)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), 'nag', {'learning_rate': 0.01, 'momentum': 0.9})

    def train_step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(batch)
    train = _throughput(train_step, batch, iters, warmup)
    return infer, train


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--models', default='aff_resnet50,iaff_resnet50,add_resnet50')
    args = parser.parse_args(argv)
    from gluoncv.model_zoo import get_model as gluoncv_model
    results = {'resnet50_v1b (gluoncv)': bench(gluoncv_model('resnet50_v1b'), args.batch,
                                               args.size, args.iters, args.warmup)}
    for name in args.models.split(','):
        results[name] = bench(gluon_aff.get_model(name), args.batch, args.size, args.iters,
                              args.warmup)
    base_infer, base_train = results['resnet50_v1b (gluoncv)']
    print('%-24s %12s %8s %12s %8s' % ('model', 'infer img/s', 'ratio', 'train img/s', 'ratio'))
    for name, (infer, train) in results.items():
        print('%-24s %12.1f %8.3f %12.1f %8.3f' % (name, infer, infer / base_infer, train,
                                                   train / base_train))


if __name__ == '__main__':
    main()
