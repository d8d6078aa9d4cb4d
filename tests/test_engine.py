"""The shared training loop's loss-scaling hook (the AMP path, which needs a GPU, uses it)."""
import contextlib

import mxnet as mx
import numpy as np
from mxnet import gluon

from gluon_aff.training import fit, read_metrics


def _run(save_dir, loss_scaler=None):
    mx.random.seed(0)
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize(mx.init.Constant(0.1))
    rs = np.random.RandomState(0)
    data = gluon.data.ArrayDataset(rs.normal(size=(16, 4)).astype('float32'),
                                   rs.randint(0, 3, 16).astype('float32'))
    loader = gluon.data.DataLoader(data, batch_size=8)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5})
    fit(net, trainer, loader, 2, str(save_dir), seed=1, progress=False,
        loss_scaler=loss_scaler)
    return net.weight.data().asnumpy(), read_metrics(str(save_dir))


def test_loss_scaler_scales_the_gradient_not_the_logged_loss(tmp_path):
    scale = 1024.0

    @contextlib.contextmanager
    def scaler(losses, trainer):  # what amp.scale_loss does
        trainer._scale = 1.0 / scale
        yield [loss * scale for loss in losses]

    plain_w, plain_rows = _run(tmp_path / 'plain')
    scaled_w, scaled_rows = _run(tmp_path / 'scaled', scaler)
    np.testing.assert_allclose(scaled_w, plain_w, rtol=1e-5, atol=1e-7)
    assert [r['train_loss'] for r in scaled_rows] == \
        [r['train_loss'] for r in plain_rows]
