#!/usr/bin/env python
"""How AdaGrad's eps meets the gradient scale of the StopSign recipe, at initialisation.

MXNet's AdaGrad updates ``w -= lr * g / sqrt(history + eps)`` with ``history = sum g^2`` and
``eps = 1e-7``: on the first step a gradient entry well below ``sqrt(eps) = 3.16e-4`` moves by
``lr * g / sqrt(eps)`` instead of ``lr * sign(g)``. The recipe's gradient is GluonCV's
``SoftmaxCrossEntropyLoss`` (normalised by the labelled pixels of the batch) divided again by the
batch in ``trainer.step(batch)``, so it shrinks as ``1 / batch``.

For each batch size this prints, over the trainable parameter tensors of a freshly initialised
(Kaiming) network on synthetic StopSign-like data (noise images, one disc of radius 10-100 px as
the stop sign), the share of tensors whose mean ``|g|`` is below ``sqrt(eps)``, the median mean
``|g|``, and the mean first-step AdaGrad factor ``|g| / sqrt(g^2 + eps)`` (1 = a full ``lr``
step); ``*_once`` gives the same for a loss normalised once (no second division by the batch). Batches above ``--micro`` are accumulated (:func:`~gluon_aff.training.segmentation.
accumulating_forward_backward`; BatchNorm then sees micro-batch statistics).

    python benchmarks/adagrad_eps.py [--model fpn_aff_resnet_b1] [--size 480] [--batches 2 32]
"""
import argparse
import json
import sys

import numpy as np


def synthetic_batch(batch, size, rs):
    """Noise images (normalised scale) and masks with one disc each (1 = stop sign)."""
    import mxnet as mx
    x = rs.normal(0, 1, (batch, 3, size, size)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    y = np.zeros((batch, size, size), np.float32)
    for i in range(batch):
        r = rs.uniform(10, 100)
        cy, cx = rs.uniform(r, size - r, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        y[i][disc] = 1
        x[i, 0][disc] += 1.0                   # a red-ish sign, learnable from the first layer
    return mx.nd.array(x), mx.nd.array(y)


def gradients(model, batch, size, micro, seed, eps):
    import mxnet as mx
    from gluoncv.loss import SoftmaxCrossEntropyLoss

    import gluon_aff
    from gluon_aff.training.segmentation import accumulating_forward_backward
    mx.random.seed(seed)
    net = gluon_aff.get_model(model)
    net.initialize(mx.init.MSRAPrelu(factor_type='in', slope=0.0))
    net.hybridize()
    x, y = synthetic_batch(batch, size, np.random.RandomState(seed))
    loss_fn = SoftmaxCrossEntropyLoss(ignore_label=-1)
    accumulating_forward_backward(max(1, batch // micro))(net, [x], [y], loss_fn)
    rows = []
    for key, p in sorted(net._collect_params_with_prefix().items()):
        if p.grad_req == 'null':
            continue
        once = p.grad().asnumpy().astype(np.float64)
        g = once / batch                                          # trainer.step(batch)
        rows.append((key, float(np.abs(g).mean()),
                     float((np.abs(g) / np.sqrt(g * g + eps)).mean()),
                     float(np.abs(once).mean()),
                     float((np.abs(once) / np.sqrt(once * once + eps)).mean())))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', default='fpn_aff_resnet_b1')
    p.add_argument('--size', type=int, default=480)
    p.add_argument('--batches', type=int, nargs='+', default=[2, 32])
    p.add_argument('--micro', type=int, default=2, help='micro-batch size above which to accumulate')
    p.add_argument('--eps', type=float, default=1e-7, help="MXNet AdaGrad's default")
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    threshold = np.sqrt(args.eps)
    for batch in args.batches:
        rows = gradients(args.model, batch, args.size, args.micro, args.seed, args.eps)
        means, once = np.array([r[1] for r in rows]), np.array([r[3] for r in rows])
        print(json.dumps({
            'model': args.model, 'batch': batch, 'size': args.size, 'tensors': len(rows),
            'sqrt_eps': float('%.3g' % threshold),
            'below_sqrt_eps': round(float((means < threshold).mean()), 3),
            'median_mean_abs_grad': float('%.3g' % np.median(means)),
            'mean_first_step_factor': round(float(np.mean([r[2] for r in rows])), 3),
            'below_sqrt_eps_once': round(float((once < threshold).mean()), 3),
            'mean_first_step_factor_once': round(float(np.mean([r[4] for r in rows])), 3)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
