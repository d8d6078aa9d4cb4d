"""StopSign: the COCO "stop sign" segmentation subset of the paper (Sec. 5, Fig. 8, Table 2).

The paper segments stop signs in the COCO images that contain one (binary: stop sign vs
background) with ResNet-20-b + FPN and reports mIoU (appendix). The original code does not ship
the subset; :func:`build_stopsign` rebuilds it from the COCO instance annotations and
:class:`StopSignSegmentation` reads it with GluonCV's joint image/mask transforms.

Layout written by :func:`build_stopsign` (``scripts/make_stopsign.py``)::

    OUT/manifest.json                  counts, filters, file list per split
    OUT/<split>/images/<file_name>     the COCO JPEG, copied byte for byte
    OUT/<split>/masks/<stem>.png       uint8 mask: 0 background, 1 stop sign, 255 ignore

Mask rendering (pycocotools): polygons, uncompressed RLE (crowd annotations) and compressed RLE
are all decoded with ``pycocotools.mask``; only "stop sign" annotations are painted. Filters (all
recorded in the manifest, with the preset they came from):

* ``crowd``: what ``iscrowd=1`` regions become - ``'foreground'`` (GluonCV's ``COCOSegmentation``
  paints every annotation, crowd included), ``'ignore'`` or ``'background'``;
* ``min_instance_area``: a (non-crowd) instance with fewer rendered pixels becomes ``ignore``
  (GluonCV has no per-instance filter);
* ``min_image_size``: images whose shorter side is smaller are dropped;
* ``min_foreground``: images with ``min_foreground`` stop-sign pixels or fewer are dropped
  (GluonCV ``COCOSegmentation``'s "more than 1k pixels" rule is 1000).

Presets (:data:`PRESETS`; explicit filter values override them): ``all`` (default) = every COCO
image with a stop-sign pixel, crowds as foreground - the paper's "COCO images containing a stop
sign", small signs included (Fig. 8); ``gluoncv`` = GluonCV's rule, only images with more than
1000 stop-sign pixels (it drops the small signs); ``all-crowd-ignore`` = ``all`` with crowd
regions ignored in loss and metrics.

Splits are COCO's own: ``train<year>`` -> ``train``, ``val<year>`` -> ``val``. Images are processed
in ascending image id, masks are written as PNG and the manifest with sorted keys, so the output
is byte-identical between runs.
"""
from __future__ import division

import json
import os
import shutil

import numpy as np
from PIL import Image

from gluoncv.data.segbase import SegmentationDataset
from mxnet import cpu
from mxnet import ndarray as nd

__all__ = ['CATEGORY_NAME', 'IGNORE_LABEL', 'CROWD_MODES', 'PRESETS', 'DEFAULT_PRESET',
           'instance_mask', 'render_mask', 'build_stopsign', 'split_summary',
           'StopSignSegmentation']

#: COCO category of the subset
CATEGORY_NAME = 'stop sign'
#: mask value of pixels excluded from loss and metrics (read as -1 by the data set)
IGNORE_LABEL = 255
#: what a crowd annotation becomes in the mask
CROWD_MODES = ('foreground', 'ignore', 'background')
SPLITS = ('train', 'val')
MANIFEST = 'manifest.json'

#: builder presets: name -> filter values (module docstring, docs/segmentation.md)
PRESETS = {
    'all': dict(crowd='foreground', min_instance_area=0, min_image_size=0, min_foreground=0),
    'gluoncv': dict(crowd='foreground', min_instance_area=0, min_image_size=0,
                    min_foreground=1000),
    'all-crowd-ignore': dict(crowd='ignore', min_instance_area=0, min_image_size=0,
                             min_foreground=0),
}
#: the preset of :func:`build_stopsign`, make-stopsign and the reproduction plan
DEFAULT_PRESET = 'all'


def _mask_api():
    try:
        from pycocotools import mask as mask_api
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError('building StopSign needs pycocotools (pip install pycocotools==2.0.8)'
                          ': %s' % err)
    return mask_api


def instance_mask(segmentation, height, width):
    """Binary ``(height, width)`` uint8 mask of one COCO ``segmentation`` field.

    Accepts a polygon list, an uncompressed RLE (``counts`` a list, as crowd annotations) or a
    compressed RLE (``counts`` a string); several polygons of one instance are merged.
    """
    mask_api = _mask_api()
    if isinstance(segmentation, list):
        if not segmentation:
            return np.zeros((height, width), np.uint8)
        rle = mask_api.merge(mask_api.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation, dict) and 'counts' in segmentation:
        if isinstance(segmentation['counts'], list):
            rle = mask_api.frPyObjects(segmentation, height, width)
        else:
            rle = dict(segmentation)
            if isinstance(rle['counts'], str):
                rle['counts'] = rle['counts'].encode('ascii')
    else:
        raise ValueError('unsupported COCO segmentation %r: expected a polygon list or an RLE '
                         'dict with "counts"' % (type(segmentation).__name__,))
    decoded = mask_api.decode(rle)
    if decoded.shape[:2] != (height, width):
        raise ValueError('RLE of size %s does not match the image size (%d, %d)'
                         % (decoded.shape[:2], height, width))
    return decoded.reshape(height, width).astype(np.uint8)


def render_mask(annotations, height, width, crowd='foreground', min_instance_area=0):
    """Semantic mask (0 background, 1 stop sign, 255 ignore) of one image's stop-sign annotations.

    Ignore regions (crowds with ``crowd='ignore'``, instances under ``min_instance_area`` pixels)
    are painted first, kept instances last, so a kept instance wins where they overlap.
    Returns ``(mask, stats)`` with ``stats`` = instance, crowd and tiny-instance counts.
    """
    if crowd not in CROWD_MODES:
        raise ValueError('crowd must be one of %s, got %r' % (CROWD_MODES, crowd))
    mask = np.zeros((height, width), np.uint8)
    keep, ignore = [], []
    stats = {'instances': 0, 'crowd_instances': 0, 'tiny_instances': 0}
    for ann in annotations:
        m = instance_mask(ann['segmentation'], height, width).astype(bool)
        stats['instances'] += 1
        if ann.get('iscrowd', 0):
            stats['crowd_instances'] += 1
            {'foreground': keep, 'ignore': ignore, 'background': []}[crowd].append(m)
        elif m.sum() < min_instance_area:
            stats['tiny_instances'] += 1
            ignore.append(m)
        else:
            keep.append(m)
    for m in ignore:
        mask[m] = IGNORE_LABEL
    for m in keep:
        mask[m] = 1
    return mask, stats


def _load_split(coco_root, split, year):
    ann_file = os.path.join(coco_root, 'annotations', 'instances_%s%s.json' % (split, year))
    if not os.path.isfile(ann_file):
        raise FileNotFoundError('COCO annotation file not found: %s (expected --coco-root to '
                                'hold annotations/ and %s%s/)' % (ann_file, split, year))
    with open(ann_file) as f:
        coco = json.load(f)
    matches = [c['id'] for c in coco.get('categories', []) if c.get('name') == CATEGORY_NAME]
    if len(matches) != 1:
        raise ValueError('%s: expected exactly one category named %r, found %d'
                         % (ann_file, CATEGORY_NAME, len(matches)))
    return coco, matches[0], os.path.join(coco_root, '%s%s' % (split, year))


def build_stopsign(coco_root, out_dir, year='2017', preset=DEFAULT_PRESET, crowd=None,
                   min_instance_area=None, min_image_size=None, min_foreground=None,
                   splits=SPLITS, progress=False):
    """Build the StopSign subset of COCO under ``out_dir``; return the manifest dict.

    Parameters
    ----------
    coco_root : str
        COCO folder with ``annotations/instances_{split}{year}.json`` and ``{split}{year}/``.
    out_dir : str
        Output folder (created; existing files of the same names are overwritten).
    year : str, default '2017'
        COCO release whose own train/val split is used.
    preset : str, default 'all'
        Filter values of :data:`PRESETS`; the four arguments below override them (None: the
        preset's).
    crowd : {'foreground', 'ignore', 'background'}
        What crowd annotations become.
    min_instance_area : int
        Non-crowd instances with fewer pixels become ``ignore``.
    min_image_size : int
        Drop images whose shorter side is smaller.
    min_foreground : int
        Drop images with this many stop-sign pixels or fewer.
    splits : tuple of str
        Splits to build.
    progress : bool
        Show a tqdm bar.
    """
    if preset not in PRESETS:
        raise ValueError('unknown StopSign preset %r; choose one of %s'
                         % (preset, ', '.join(sorted(PRESETS))))
    given = dict(crowd=crowd, min_instance_area=min_instance_area,
                 min_image_size=min_image_size, min_foreground=min_foreground)
    filters = dict(PRESETS[preset], **{k: v for k, v in given.items() if v is not None})
    crowd, min_instance_area = filters['crowd'], filters['min_instance_area']
    min_image_size, min_foreground = filters['min_image_size'], filters['min_foreground']
    if crowd not in CROWD_MODES:
        raise ValueError('crowd must be one of %s, got %r' % (CROWD_MODES, crowd))
    for name, value in (('min_instance_area', min_instance_area),
                        ('min_image_size', min_image_size), ('min_foreground', min_foreground)):
        if not isinstance(value, int) or value < 0:
            raise ValueError('%s must be a non-negative integer, got %r' % (name, value))
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError('unknown split(s) %s; COCO provides %s' % (unknown, SPLITS))
    from tqdm import tqdm

    manifest = {
        'dataset': 'StopSign', 'source': 'COCO %s instances' % year,
        'category': None, 'labels': {'background': 0, 'stop sign': 1, 'ignore': IGNORE_LABEL},
        'filters': filters, 'splits': {},
        'preset': preset if filters == PRESETS[preset] else '%s (modified)' % preset}
    for split in splits:
        coco, cat_id, image_dir = _load_split(coco_root, split, year)
        manifest['category'] = {'id': cat_id, 'name': CATEGORY_NAME}
        by_image = {}
        for ann in coco.get('annotations', []):
            if ann.get('category_id') == cat_id:
                by_image.setdefault(ann['image_id'], []).append(ann)
        images = {img['id']: img for img in coco.get('images', [])}
        out_images = os.path.join(out_dir, split, 'images')
        out_masks = os.path.join(out_dir, split, 'masks')
        os.makedirs(out_images, exist_ok=True)
        os.makedirs(out_masks, exist_ok=True)
        counts = {'source_images': len(images), 'images_with_category': len(by_image),
                  'dropped_small_image': 0, 'dropped_little_foreground': 0, 'images': 0,
                  'instances': 0, 'crowd_instances': 0, 'tiny_instances': 0,
                  'foreground_pixels': 0, 'ignore_pixels': 0, 'total_pixels': 0}
        files = []
        for image_id in tqdm(sorted(by_image), desc=split, disable=not progress):
            if image_id not in images:
                raise ValueError('annotation refers to image id %d, absent from the %s images'
                                 % (image_id, split))
            info = images[image_id]
            height, width = int(info['height']), int(info['width'])
            if min(height, width) < min_image_size:
                counts['dropped_small_image'] += 1
                continue
            mask, stats = render_mask(by_image[image_id], height, width, crowd,
                                      min_instance_area)
            foreground = int((mask == 1).sum())
            if foreground <= min_foreground:
                counts['dropped_little_foreground'] += 1
                continue
            source = os.path.join(image_dir, info['file_name'])
            if not os.path.isfile(source):
                raise FileNotFoundError('COCO image not found: %s (image id %d)'
                                        % (source, image_id))
            stem = os.path.splitext(info['file_name'])[0]
            shutil.copyfile(source, os.path.join(out_images, info['file_name']))
            Image.fromarray(mask).save(os.path.join(out_masks, stem + '.png'))
            for key, value in stats.items():
                counts[key] += value
            counts['images'] += 1
            counts['foreground_pixels'] += foreground
            counts['ignore_pixels'] += int((mask == IGNORE_LABEL).sum())
            counts['total_pixels'] += height * width
            files.append({'id': image_id, 'image': info['file_name'], 'mask': stem + '.png'})
        manifest['splits'][split] = dict(counts, files=files)
    with open(os.path.join(out_dir, MANIFEST), 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write('\n')
    return manifest


def split_summary(manifest):
    """One line per split of a manifest: images kept, dropped by each filter, instances."""
    lines = []
    for split, c in sorted(manifest['splits'].items()):
        lines.append('%s: %d images kept of %d with a stop sign (%d source images); dropped %d '
                     'smaller than %d px, %d with <= %d stop-sign pixels; %d instances (%d crowd, '
                     '%d tiny); %d foreground / %d ignore / %d pixels'
                     % (split, c['images'], c['images_with_category'], c['source_images'],
                        c['dropped_small_image'], manifest['filters']['min_image_size'],
                        c['dropped_little_foreground'], manifest['filters']['min_foreground'],
                        c['instances'], c['crowd_instances'], c['tiny_instances'],
                        c['foreground_pixels'], c['ignore_pixels'], c['total_pixels']))
    return lines


class StopSignSegmentation(SegmentationDataset):
    """The StopSign subset built by :func:`build_stopsign`, as a GluonCV segmentation data set.

    Items are ``(image, mask)``: ``mode='train'`` applies GluonCV's joint random flip, random
    scale (0.5-2.0 x ``base_size``), pad, random ``crop_size`` crop and blur; ``'val'`` resizes
    the short side to ``crop_size`` and centre-crops; ``'testval'`` returns the full image. The
    image is an ``HWC`` uint8 NDArray before ``transform`` (e.g. ``ToTensor`` + ``Normalize``);
    the mask is int32 with ``-1`` for ignored pixels (GluonCV's ignore label).

    Parameters
    ----------
    root : str
        Folder written by :func:`build_stopsign` (holds ``manifest.json``).
    split : {'train', 'val'}
        Split to read.
    mode : {'train', 'val', 'testval'} or None
        Transform mode (None: same as ``split``).
    transform : callable or None
        Image transform applied after the joint transform.
    base_size, crop_size : int
        GluonCV's augmentation sizes (defaults 520 / 480 as in GluonCV).
    """
    NUM_CLASS = 2
    CLASSES = ('background', 'stop sign')

    def __init__(self, root, split='train', mode=None, transform=None, base_size=520,
                 crop_size=480):
        root = os.path.expanduser(root)
        path = os.path.join(root, MANIFEST)
        if not os.path.isfile(path):
            raise FileNotFoundError('StopSign manifest not found: %s (build the set with '
                                    'scripts/make_stopsign.py)' % path)
        super(StopSignSegmentation, self).__init__(root, split, mode, transform,
                                                   base_size=base_size, crop_size=crop_size)
        if self.mode not in ('train', 'val', 'testval'):
            raise ValueError("mode must be 'train', 'val' or 'testval', got %r" % (self.mode,))
        with open(path) as f:
            manifest = json.load(f)
        if split not in manifest['splits']:
            raise ValueError('split %r not in %s (has %s)'
                             % (split, path, sorted(manifest['splits'])))
        self.manifest = manifest
        entries = manifest['splits'][split]['files']
        self.images = [os.path.join(root, split, 'images', e['image']) for e in entries]
        self.masks = [os.path.join(root, split, 'masks', e['mask']) for e in entries]
        if not self.images:
            raise ValueError('split %r of %s holds no image' % (split, path))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        img = Image.open(self.images[index]).convert('RGB')
        mask = Image.open(self.masks[index])
        if self.mode == 'train':
            img, mask = self._sync_transform(img, mask)
        elif self.mode == 'val':
            img, mask = self._val_sync_transform(img, mask)
        else:
            img, mask = self._img_transform(img), self._mask_transform(mask)
        if self.transform is not None:
            img = self.transform(img)
        return img, mask

    def _mask_transform(self, mask):
        target = np.array(mask).astype('int32')
        target[target == IGNORE_LABEL] = -1
        return nd.array(target, cpu(0)).astype('int32')

    @property
    def classes(self):
        """Class names."""
        return type(self).CLASSES
