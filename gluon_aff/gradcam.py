"""Grad-CAM heatmaps for any zoo model (Fig. 6 of Dai et al., WACV 2021).

Grad-CAM (Selvaraju et al., IJCV 2020): for a feature map ``A`` (``K x h x w``) of a chosen layer
and the score ``y_c`` of class ``c`` (the logit, before softmax),

    alpha_k = mean_{i,j} d y_c / d A_k[i, j],     cam = ReLU(sum_k alpha_k A_k),

then ``cam`` is min-max normalised to ``[0, 1]`` and bilinearly resized to the input image. The
paper shows the heatmaps of the *predicted* class of ResNet-50, SENet-50 and AFF-ResNet-50.

The layer is a structural name (as in ``net._collect_params_with_prefix``, e.g. ``layer4`` or
``features.4``); the default is the last stage: the last direct child of the network (or of its
``features``) that is a sequential container producing a 4-D map larger than 1 x 1. The layer's
output is captured with a forward hook, so the network must not be hybridized.
"""
import mxnet as mx
import numpy as np
from mxnet import autograd
from mxnet.gluon import nn

__all__ = ['GradCAM', 'find_layer', 'default_layer', 'overlay', 'load_image', 'input_preset',
           'compare_models', 'comparison_figure', 'save_comparison', 'IMAGENET_MEAN',
           'IMAGENET_STD', 'CIFAR_MEAN', 'CIFAR_STD']

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: the original CIFAR code's normalisation
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def find_layer(net, name):
    """The sub-block of ``net`` at structural path ``name`` (``'features.4'``, ``'layer4'``)."""
    block = net
    for part in name.split('.'):
        children = block._children
        if part not in children:
            raise ValueError('layer %r not found: %r has children %s'
                             % (name, block.name, ', '.join(children) or '(none)'))
        child = children[part]
        block = child() if callable(child) and not isinstance(child, mx.gluon.Block) else child
    return block


def _candidates(net):
    """``[(path, block)]``: direct children, with ``features`` expanded to its children."""
    out = []
    for key in net._children:
        block = find_layer(net, key)
        if key == 'features' and isinstance(block, (nn.HybridSequential, nn.Sequential)):
            out.extend(('features.%s' % k, find_layer(block, k)) for k in block._children)
        else:
            out.append((key, block))
    return out


def default_layer(net, image_shape):
    """Structural path of the last stage of ``net`` for inputs of ``image_shape`` (NCHW)."""
    seen = []
    handles = []
    for path, block in _candidates(net):
        if isinstance(block, (nn.HybridSequential, nn.Sequential)):
            handles.append(block.register_forward_hook(
                lambda b, inputs, output, path=path: seen.append((path, output.shape))))
    try:
        net(mx.nd.zeros(image_shape))
    finally:
        for handle in handles:
            handle.detach()
    maps = [path for path, shape in seen if len(shape) == 4 and shape[2] * shape[3] > 1]
    if not maps:
        raise ValueError('no stage with a 4-D output larger than 1x1 found in %s; pass a layer '
                         'name' % net.name)
    return maps[-1]


class GradCAM(object):
    """Grad-CAM of ``net`` at ``layer``.

    Parameters
    ----------
    net : Block
        An initialised, *not hybridized* classification network returning logits ``(N, classes)``.
    layer : str, optional
        Structural name of the feature layer; default :func:`default_layer`.
    """

    def __init__(self, net, layer=None):
        if getattr(net, '_active', False):
            raise ValueError('Grad-CAM needs an imperative network: build it without '
                             'net.hybridize()')
        self.net, self.layer = net, layer

    def __call__(self, image, class_id=None):
        """Heatmap of one image.

        Parameters
        ----------
        image : NDArray
            Normalised input ``(1, 3, H, W)``.
        class_id : int, optional
            Class to explain; default the predicted (arg-max) class.

        Returns
        -------
        (cam, class_id, probability) : ``cam`` a float32 ``(H, W)`` array in [0, 1] (all zeros
        when no location has positive evidence), the explained class and its softmax probability.
        """
        if image.ndim != 4 or image.shape[0] != 1:
            raise ValueError('image must have shape (1, C, H, W), got %s' % (image.shape,))
        layer = self.layer or default_layer(self.net, image.shape)
        self.layer = layer
        captured = []

        def hook(block, inputs, output):
            output.attach_grad()
            captured.append(output)

        handle = find_layer(self.net, layer).register_forward_hook(hook)
        try:
            with autograd.record(train_mode=False):
                logits = self.net(image)
                if logits.ndim != 2:
                    raise ValueError('the network must return (N, classes) logits, got shape %s'
                                     % (logits.shape,))
                classes = logits.shape[1]
                if class_id is None:
                    class_id = int(logits[0].argmax(axis=0).asscalar())
                if not 0 <= class_id < classes:
                    raise ValueError('class_id %d out of range [0, %d)' % (class_id, classes))
                score = logits[0, class_id]
            score.backward()
        finally:
            handle.detach()
        if len(captured) != 1:
            raise ValueError('layer %r ran %d times in one forward pass; choose a layer that '
                             'runs once' % (layer, len(captured)))
        fmap = captured[0]
        weights = fmap.grad.mean(axis=(2, 3), keepdims=True)
        cam = mx.nd.relu((weights * fmap).sum(axis=1, keepdims=True))
        cam = mx.nd.contrib.BilinearResize2D(cam, height=image.shape[2], width=image.shape[3])
        cam = cam[0, 0].asnumpy()
        low, high = cam.min(), cam.max()
        cam = (cam - low) / (high - low) if high > low else np.zeros_like(cam)
        prob = float(mx.nd.softmax(logits[0])[class_id].asscalar())
        return cam.astype(np.float32), class_id, prob


def load_image(path, size, mean, std, resize=None):
    """Read ``path`` -> ``(display uint8 HxWx3, normalised NDArray 1x3xHxW)``.

    The short side is resized to ``resize`` (default ``size``), then a ``size x size`` centre crop.
    """
    import os
    if not os.path.exists(path):
        raise FileNotFoundError('image %r does not exist' % path)
    img = mx.image.imread(path)
    img = mx.image.resize_short(img, resize or size)
    img, _ = mx.image.center_crop(img, (size, size))
    display = img.asnumpy()
    data = mx.nd.image.normalize(mx.nd.image.to_tensor(img), mean=mean, std=std)
    return display, data.expand_dims(0)


def overlay(image, cam, alpha=0.5, cmap='jet'):
    """Blend a ``[0, 1]`` heatmap (colour-mapped) over an ``HxWx3`` uint8 image -> uint8."""
    from matplotlib import cm as colormaps
    import matplotlib
    if image.shape[:2] != cam.shape:
        raise ValueError('image %s and heatmap %s sizes differ' % (image.shape[:2], cam.shape))
    heat = matplotlib.colormaps[cmap](cam)[..., :3] if hasattr(matplotlib, 'colormaps') \
        else colormaps.get_cmap(cmap)(cam)[..., :3]
    mixed = (1 - alpha) * image.astype(np.float32) / 255.0 + alpha * heat
    return (np.clip(mixed, 0, 1) * 255).astype(np.uint8)


def comparison_figure(image, results, class_names=None):
    """The figure of :func:`save_comparison`: the image, then one overlay per model, each
    title (model, class, score) laid out inside the figure."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(3 * (len(results) + 1), 3.6),
                             layout='constrained', squeeze=False)
    axes = axes[0]
    axes[0].imshow(image)
    axes[0].set_title('input', fontsize=9)
    for ax, (name, cam, class_id, prob) in zip(axes[1:], results):
        ax.imshow(overlay(image, cam))
        label = class_names[class_id] if class_names else 'class %d' % class_id
        ax.set_title('%s\n%s (%.2f)' % (name, label, prob), fontsize=9, wrap=True)
    for ax in axes:
        ax.axis('off')
    return fig


def save_comparison(path, image, results, class_names=None):
    """Save a row: the image, then one overlay per model.

    ``results``: ``[(model name, cam, class_id, probability)]``; titles show the class (name when
    ``class_names`` is given) and its softmax score, as in the paper's Fig. 6.
    """
    import matplotlib.pyplot as plt
    from .training.checkpoint import atomic_write
    fig = comparison_figure(image, results, class_names)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format='png', dpi=100))
    plt.close(fig)
    return path


def input_preset(name):
    """``(size, resize, mean, std)`` of zoo model ``name`` from its model card (ImageNet's for a
    name outside the zoo): the short side resized to ``ceil(size / crop_ratio)`` (ImageNet 256
    for 224, CIFAR 32), a ``size`` centre crop, normalised as the original did for its data."""
    import math
    from .model_zoo import DATASETS, get_model_card, get_model_list
    spec = vars(get_model_card(name)) if name.lower() in get_model_list() \
        else DATASETS['imagenet']
    size = spec['input_size'][0]
    return size, int(math.ceil(size / spec['crop_ratio'])), spec['mean'], spec['std']


def compare_models(models, image_paths, out_dir, class_id=None, class_names=None):
    """Grad-CAM of several models on several images, one side-by-side PNG per image.

    Parameters
    ----------
    models : list of (name, net, layer)
        Zoo name (picks the input preset), network (not hybridized), layer (None: last stage).
    image_paths : list of str
    out_dir : str
        Receives ``<image stem>_gradcam.png`` (side by side) and ``<image stem>_<model>.png``.
    class_id : int, optional
        Class explained by every model; default each model's predicted class.
    class_names : list of str, optional

    Returns the list of written paths.
    """
    import os
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from .training.checkpoint import atomic_write
    cams = [(name, GradCAM(net, layer)) for name, net, layer in models]
    written = []
    for path in image_paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        results, display = [], None
        for name, cam in cams:
            size, resize, mean, std = input_preset(name)
            shown, data = load_image(path, size, mean, std, resize)
            heat, cid, prob = cam(data, class_id)
            single = os.path.join(out_dir, '%s_%s.png' % (stem, name))
            os.makedirs(out_dir, exist_ok=True)  # only once there is something to write
            atomic_write(single, lambda tmp, heat=heat: plt.imsave(tmp, overlay(shown, heat),
                                                                  format='png'))
            written.append(single)
            if display is None:
                display = shown
            elif heat.shape != display.shape[:2]:
                # a model with another input size: its heatmap is resized to the first display
                heat = mx.nd.contrib.BilinearResize2D(
                    mx.nd.array(heat)[None, None], height=display.shape[0],
                    width=display.shape[1])[0, 0].asnumpy().clip(0, 1)
            results.append((name, heat, cid, prob))
        written.append(save_comparison(os.path.join(out_dir, '%s_gradcam.png' % stem), display,
                                       results, class_names))
    return written
