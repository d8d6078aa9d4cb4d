"""StopSign builder and data set against masks computed independently in the test.

A tiny COCO tree is generated here: polygons (an octagon whose vertices keep every pixel centre
off the edges, so the point-in-polygon reference at pixel centres is unambiguous; rectangles),
an uncompressed-RLE crowd annotation encoded by a hand-written run-length encoder, a compressed
RLE, another category, an image without a stop sign, a tiny instance, a small image and an image
with too little foreground. The expected masks are built with numpy / matplotlib, not with
pycocotools.
"""
import json
import os

import numpy as np
import pytest
from matplotlib.path import Path
from PIL import Image

from gluon_aff.data.stopsign import (IGNORE_LABEL, StopSignSegmentation, build_stopsign,
                                     instance_mask)
from helpers import requires

STOP, PERSON = 13, 1
# octagon: horizontal/vertical edges at .25/.75, diagonals on x+y or x-y = k + 0.5
OCTAGON = [3.75, 1.75, 8.25, 1.75, 11.25, 4.75, 11.25, 8.25, 7.75, 11.75, 4.25, 11.75,
           1.25, 8.75, 1.25, 4.25]


def shifted(poly, dx, dy):
    return [v + (dx if i % 2 == 0 else dy) for i, v in enumerate(poly)]


def rect(x0, y0, x1, y1):
    """Rectangle polygon covering pixels [y0:y1, x0:x1] (pixel centres inside)."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def polygon_reference(poly, h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    centres = np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], axis=1)
    return Path(np.array(poly).reshape(-1, 2)).contains_points(centres).reshape(h, w)


def hand_rle(mask):
    """Uncompressed COCO RLE: run lengths of the column-major flattening, zeros first."""
    flat = mask.flatten(order='F').astype(np.uint8)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {'size': [int(mask.shape[0]), int(mask.shape[1])], 'counts': counts}


def box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def make_tiny_coco(root):
    """Write a COCO-format tree under ``root``; return the expected masks before filtering:
    ``{(split, file_stem): {'foreground': bool array, 'crowd': bool array, 'tiny': bool array}}``.
    """
    mask_api = requires('pycocotools.mask', 'encoding the COCO RLE test input')
    rs = np.random.RandomState(0)
    specs = {'train': [], 'val': []}
    expected = {}
    ann_id = [0]

    def ann(image_id, segmentation, cat=STOP, crowd=0):
        ann_id[0] += 1
        return {'id': ann_id[0], 'image_id': image_id, 'category_id': cat, 'iscrowd': crowd,
                'segmentation': segmentation, 'area': 0.0, 'bbox': [0, 0, 1, 1]}

    def image(split, image_id, h, w, anns, fg=None, crowd=None, tiny=None):
        name = '%012d.jpg' % image_id
        specs[split].append(({'id': image_id, 'file_name': name, 'height': h, 'width': w}, anns))
        z = np.zeros((h, w), bool)
        expected[(split, name[:-4])] = {'foreground': z if fg is None else fg,
                                       'crowd': z if crowd is None else crowd,
                                       'tiny': z if tiny is None else tiny}

    # 1: octagon + second instance of two polygons, another category (background)
    octagon = shifted(OCTAGON, 6, 3)
    two = [rect(25, 5, 35, 10), rect(25, 10, 30, 15)]
    fg1 = polygon_reference(octagon, 30, 40) | box(30, 40, 5, 10, 25, 35) | box(30, 40, 10, 15,
                                                                                25, 30)
    image('train', 1, 30, 40, [ann(1, [octagon]), ann(1, two), ann(1, [rect(0, 20, 10, 30)],
                                                                    cat=PERSON)], fg=fg1)
    # 2: crowd as uncompressed RLE + a polygon instance
    crowd2 = box(20, 24, 2, 10, 3, 12)
    image('train', 2, 20, 24, [ann(2, hand_rle(crowd2), crowd=1), ann(2, [rect(14, 12, 22, 18)])],
          fg=box(20, 24, 12, 18, 14, 22), crowd=crowd2)
    # 3: no stop sign at all
    image('train', 3, 16, 16, [ann(3, [rect(2, 2, 10, 10)], cat=PERSON)])
    # 4: tiny (2x2) + large instance
    image('train', 4, 16, 16, [ann(4, [rect(1, 1, 3, 3)]), ann(4, [rect(4, 5, 14, 15)])],
          fg=box(16, 16, 5, 15, 4, 14), tiny=box(16, 16, 1, 3, 1, 3))
    # 5: small image (short side 12)
    image('train', 5, 12, 50, [ann(5, [rect(10, 1, 40, 11)])], fg=box(12, 50, 1, 11, 10, 40))
    # 6: little foreground (3x3 = 9 pixels)
    image('train', 6, 16, 16, [ann(6, [rect(6, 6, 9, 9)])], fg=box(16, 16, 6, 9, 6, 9))
    # 10 (val): compressed RLE
    fg10 = box(20, 20, 4, 12, 6, 16)
    rle = mask_api.encode(np.asfortranarray(fg10.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    image('val', 10, 20, 20, [ann(10, rle)], fg=fg10)

    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    for split, items in specs.items():
        folder = os.path.join(root, split + '2017')
        os.makedirs(folder, exist_ok=True)
        for info, _ in items:
            pixels = rs.randint(0, 255, (info['height'], info['width'], 3)).astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, info['file_name']), quality=95)
        coco = {'images': [info for info, _ in reversed(items)],  # unsorted on purpose
                'annotations': [a for _, anns in items for a in anns],
                'categories': [{'id': PERSON, 'name': 'person'}, {'id': STOP, 'name': 'stop sign'}]}
        with open(os.path.join(root, 'annotations', 'instances_%s2017.json' % split), 'w') as f:
            json.dump(coco, f)
    return expected


def expected_mask(parts, crowd='foreground', tiny_ignored=False):
    m = np.zeros(parts['foreground'].shape, np.uint8)
    if crowd == 'ignore':
        m[parts['crowd']] = IGNORE_LABEL
    if tiny_ignored:
        m[parts['tiny']] = IGNORE_LABEL
    m[parts['foreground']] = 1
    if crowd == 'foreground':
        m[parts['crowd']] = 1
    if not tiny_ignored:
        m[parts['tiny']] = 1
    return m


def read_mask(out, split, stem):
    return np.array(Image.open(os.path.join(out, split, 'masks', stem + '.png')))


def test_instance_mask_formats():
    requires('pycocotools.mask', 'decoding COCO masks')
    octagon = shifted(OCTAGON, 2, 1)
    assert np.array_equal(instance_mask([octagon], 16, 18),
                          polygon_reference(octagon, 16, 18).astype(np.uint8))
    m = box(7, 9, 1, 5, 2, 8)
    assert np.array_equal(instance_mask(hand_rle(m), 7, 9), m.astype(np.uint8))
    with pytest.raises(ValueError, match='unsupported COCO segmentation'):
        instance_mask(42, 4, 4)


def test_builder_masks_filters_and_manifest(tmp_path):
    coco = str(tmp_path / 'coco')
    expected = make_tiny_coco(coco)
    out = str(tmp_path / 'stopsign')
    manifest = build_stopsign(coco, out, crowd='ignore', min_instance_area=5, min_image_size=14,
                              min_foreground=20)
    train = manifest['splits']['train']
    assert [f['id'] for f in train['files']] == [1, 2, 4]          # ascending ids, 3/5/6 out
    assert train['source_images'] == 6 and train['images_with_category'] == 5
    assert train['dropped_small_image'] == 1 and train['dropped_little_foreground'] == 1
    assert (train['instances'], train['crowd_instances'], train['tiny_instances']) == (6, 1, 1)
    for entry in train['files']:
        stem = entry['mask'][:-4]
        want = expected_mask(expected[('train', stem)], crowd='ignore', tiny_ignored=True)
        assert np.array_equal(read_mask(out, 'train', stem), want), stem
    assert train['foreground_pixels'] == sum(
        int(expected_mask(expected[('train', f['mask'][:-4])], 'ignore', True).__eq__(1).sum())
        for f in train['files'])
    assert train['ignore_pixels'] == 8 * 9 + 4
    val = manifest['splits']['val']
    assert [f['id'] for f in val['files']] == [10]
    assert np.array_equal(read_mask(out, 'val', '000000000010'),
                          expected[('val', '000000000010')]['foreground'].astype(np.uint8))
    # images are copied byte for byte; the manifest on disk is the returned one
    src = os.path.join(coco, 'train2017', '000000000001.jpg')
    with open(src, 'rb') as a, open(os.path.join(out, 'train', 'images', '000000000001.jpg'),
                                     'rb') as b:
        assert a.read() == b.read()
    with open(os.path.join(out, 'manifest.json')) as f:
        assert json.load(f) == manifest
    assert manifest['filters'] == {'crowd': 'ignore', 'min_instance_area': 5,
                                   'min_image_size': 14, 'min_foreground': 20}
    assert manifest['category'] == {'id': STOP, 'name': 'stop sign'}


def test_builder_defaults_and_determinism(tmp_path):
    coco = str(tmp_path / 'coco')
    expected = make_tiny_coco(coco)
    outs = [str(tmp_path / 'a'), str(tmp_path / 'b')]
    for out in outs:
        build_stopsign(coco, out, min_foreground=0)        # crowd foreground, no other filter
    for key, parts in expected.items():
        split, stem = key
        if not parts['foreground'].any() and not parts['crowd'].any():
            assert not os.path.exists(os.path.join(outs[0], split, 'masks', stem + '.png'))
            continue
        assert np.array_equal(read_mask(outs[0], split, stem), expected_mask(parts)), key
    files = sorted(os.path.relpath(os.path.join(d, f), outs[0])
                   for d, _, fs in os.walk(outs[0]) for f in fs)
    assert files == sorted(os.path.relpath(os.path.join(d, f), outs[1])
                           for d, _, fs in os.walk(outs[1]) for f in fs)
    for rel in files:
        with open(os.path.join(outs[0], rel), 'rb') as a, open(os.path.join(outs[1], rel),
                                                                'rb') as b:
            assert a.read() == b.read(), rel
    # GluonCV's default: more than 1000 foreground pixels; none of the tiny images qualifies
    manifest = build_stopsign(coco, str(tmp_path / 'c'))
    assert manifest['splits']['train']['images'] == 0
    assert manifest['splits']['train']['dropped_little_foreground'] == 5


def test_builder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='instances_train2017.json'):
        build_stopsign(str(tmp_path / 'missing'), str(tmp_path / 'out'))
    coco = str(tmp_path / 'coco')
    make_tiny_coco(coco)
    with pytest.raises(ValueError, match="crowd must be one of"):
        build_stopsign(coco, str(tmp_path / 'out'), crowd='maybe')
    with pytest.raises(ValueError, match='min_foreground'):
        build_stopsign(coco, str(tmp_path / 'out'), min_foreground=-1)
    os.remove(os.path.join(coco, 'train2017', '000000000001.jpg'))
    with pytest.raises(FileNotFoundError, match='000000000001.jpg'):
        build_stopsign(coco, str(tmp_path / 'out'), min_foreground=0)
    with pytest.raises(FileNotFoundError, match='manifest'):
        StopSignSegmentation(str(tmp_path / 'nothing'))


def test_dataset_joint_transforms(tmp_path):
    coco = str(tmp_path / 'coco')
    expected = make_tiny_coco(coco)
    out = str(tmp_path / 'stopsign')
    build_stopsign(coco, out, crowd='ignore', min_foreground=0)
    full = StopSignSegmentation(out, split='train', mode='testval')
    assert len(full) == 5 and full.num_class == 2 and full.classes == ('background', 'stop sign')
    img, mask = full[1]                                    # image 2: crowd ignored -> -1
    assert img.shape == (20, 24, 3) and mask.shape == (20, 24) and mask.dtype == np.int32
    want = expected_mask(expected[('train', '000000000002')], crowd='ignore').astype(np.int32)
    want[want == IGNORE_LABEL] = -1
    assert np.array_equal(mask.asnumpy(), want)
    train = StopSignSegmentation(out, split='train', base_size=24, crop_size=16)
    val = StopSignSegmentation(out, split='val', base_size=24, crop_size=16)
    for ds in (train, val):
        for i in range(len(ds)):
            img, mask = ds[i]
            assert img.shape == (16, 16, 3) and mask.shape == (16, 16)
            assert set(np.unique(mask.asnumpy())) <= {-1, 0, 1}
    # val: a 20x20 image resized to the crop size keeps the box (nearest resize, exact factor)
    vimg, vmask = StopSignSegmentation(out, split='val', crop_size=10)[0]
    assert np.array_equal(vmask.asnumpy(), expected[('val', '000000000010')]['foreground']
                          [::2, ::2].astype(np.int32))
    with pytest.raises(ValueError, match='split'):
        StopSignSegmentation(out, split='test', mode='testval')
    with pytest.raises(ValueError, match='mode must be'):
        StopSignSegmentation(out, split='val', mode='predict')
