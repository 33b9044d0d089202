"""The 224 px image store: decoded once, cropped and resized on the device with torchvision's crop semantics."""

import numpy as np
import pytest
import torch
from PIL import Image

from methods.data import FileSplit, get_facts, make_batches
from methods.data.image_store import as_store, build_store, center_boxes, random_resized_boxes
from methods.data.splits import open_rgb

SIZES = [(400, 300), (200, 500), (1000, 600)]     # (width, height) as PIL gives them


def smooth_image(width, height, seed):
    """A smooth colour pattern (resizing it with different kernels gives nearly the same pixels)."""
    y, x = np.mgrid[0:height, 0:width]
    phase = seed * 0.7
    channels = [127 + 120 * np.sin(x / 37 + phase + c) * np.cos(y / 45 - c) for c in range(3)]
    return Image.fromarray(np.stack(channels, -1).astype(np.uint8))


@pytest.fixture
def split(tmp_path):
    paths = []
    for index, (width, height) in enumerate(SIZES):
        path = tmp_path / f"{index}.png"          # lossless: the store must hold these exact pixels
        smooth_image(width, height, index).save(path)
        paths.append(str(path))
    return FileSplit(paths, torch.tensor([0, 1, 0]), open_rgb)


def test_store_holds_each_image_at_its_own_size(split, tmp_path):
    store = build_store(split, max_side=640, cache_dir=tmp_path / "cache")
    assert store.shapes.tolist() == [[3, 300, 400], [3, 500, 200], [3, 384, 640]]   # 1000x600 -> longest side 640
    for index in (0, 1):
        expected = torch.from_numpy(np.array(open_rgb(split.items[index]))).permute(2, 0, 1)
        assert torch.equal(store.image(store.pixels, index), expected)
    cached = build_store(split, max_side=640, cache_dir=tmp_path / "cache")       # read back from the .npy files
    assert torch.equal(cached.pixels, store.pixels) and torch.equal(cached.offsets, store.offsets)
    assert as_store(store, 640, None) is store


def test_center_box_is_resize_256_then_center_crop_224():
    # 400x300: the shorter side 300 -> 256 is a factor 0.8533, so the 224 crop spans 262.5 -> 262 source pixels
    boxes = center_boxes(torch.tensor([300]), torch.tensor([400]), 224)
    assert boxes.tolist() == [[19, 69, 262, 262]]
    small = center_boxes(torch.tensor([30]), torch.tensor([40]), 32)   # 32 px: Resize(37) + CenterCrop(32)
    assert small.tolist() == [[2, 7, 26, 26]]


def test_random_boxes_follow_torchvision_random_resized_crop():
    from torchvision.transforms import RandomResizedCrop
    heights, widths = torch.full((2000,), 300), torch.full((2000,), 400)
    boxes = random_resized_boxes(heights, widths, torch.Generator().manual_seed(1))
    assert torch.equal(boxes, random_resized_boxes(heights, widths, torch.Generator().manual_seed(1)))
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 300).all() and (left + w <= 400).all()
    torch.manual_seed(1)
    image = torch.zeros(3, 300, 400)
    reference = torch.tensor([RandomResizedCrop.get_params(image, [0.08, 1.0], [3 / 4, 4 / 3])
                              for _ in range(2000)])
    for ours, theirs in ((h * w / 120000.0, reference[:, 2] * reference[:, 3] / 120000.0),
                         ((w / h).log(), (reference[:, 3] / reference[:, 2]).log()),
                         ((top + h / 2) / 300.0, (reference[:, 0] + reference[:, 2] / 2) / 300.0)):
        assert abs(ours.double().mean() - theirs.double().mean()) < 0.02      # same distribution, 2000 draws
        assert abs(ours.double().std() - theirs.double().std()) < 0.02


def test_random_box_falls_back_to_the_clamped_centre_for_extreme_shapes():
    # 200 wide, 10 high: no crop of >= 8 % area with ratio <= 4/3 fits, so torchvision takes the centre 13x10
    box = random_resized_boxes(torch.tensor([10]), torch.tensor([200]), torch.Generator().manual_seed(0))
    assert box.tolist() == [[0, 93, 10, 13]]


def test_store_evaluation_batches_match_the_pil_pipeline(split):
    facts = get_facts("imagewoof")                               # 224 px: Resize(256) + CenterCrop(224)
    store = as_store(split, 1000, None)
    common = dict(train=False, batch_size=3, device="cpu", seed=0, epoch=1)
    (pil_images, pil_labels), = list(make_batches(split, facts, **common))
    (store_images, store_labels), = list(make_batches(store, facts, **common))
    assert store_images.shape == pil_images.shape == (3, 3, 224, 224)
    assert torch.equal(store_labels, pil_labels)
    # different resampling code (PIL vs torch, box rounding), the same picture: within a grey level or two
    assert (store_images - pil_images).abs().mean() < 0.03


def test_store_training_batches_are_augmented_per_sample_and_repeatable(split):
    facts = get_facts("imagewoof").replace(image_size=16)
    store = as_store(split, 512, None)
    common = dict(train=True, batch_size=3, device="cpu", seed=3, views=2)
    (views, _), = list(make_batches(store, facts, epoch=1, **common))
    (again, _), = list(make_batches(store, facts, epoch=1, **common))
    (other, _), = list(make_batches(store, facts, epoch=2, **common))
    assert all(torch.equal(a, b) for a, b in zip(views, again))
    assert not torch.equal(views[0], views[1]) and not torch.equal(views[0], other[0])
    assert all(torch.isfinite(v).all() and v.shape == (3, 3, 16, 16) for v in views)
