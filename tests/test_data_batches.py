"""make_batches: normalisation, crop_flip semantics, order, determinism, drop_last, and the FileSplit path."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from methods.data import DatasetError, FileSplit, TensorSplit, get_facts, load_splits, make_batches
from methods.engine.distributed import Group, Solo
from methods.plan.world import World

CIFAR = get_facts("cifar10")


def collect(split, facts, **options) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(make_batches(split, facts, device="cpu", **options))
    return torch.cat([images for images, _ in batches]), torch.cat([labels for _, labels in batches])


def distinct_images(count: int, channels: int = 3, size: int = 8) -> TensorSplit:
    """Every pixel value 1..255 (never 0, so padding is recognisable), different per sample."""
    values = torch.arange(count * channels * size * size).reshape(count, channels, size, size)
    return TensorSplit((values % 255 + 1).to(torch.uint8), torch.arange(count) % 3)


def denormalise(images: torch.Tensor, facts) -> torch.Tensor:
    mean = torch.tensor(facts.mean).view(1, -1, 1, 1)
    std = torch.tensor(facts.std).view(1, -1, 1, 1)
    return ((images * std + mean) * 255).round().to(torch.uint8)


def test_constant_image_maps_to_normalised_value():
    split = TensorSplit(torch.full((5, 3, 32, 32), 200, dtype=torch.uint8), torch.zeros(5, dtype=torch.int64))
    images, _ = collect(split, CIFAR, train=False, batch_size=4, seed=0, epoch=0)
    assert images.dtype == torch.float32 and images.shape == (5, 3, 32, 32)
    for channel, (mean, std) in enumerate(zip(CIFAR.mean, CIFAR.std)):
        assert torch.allclose(images[:, channel], torch.tensor((200 / 255 - mean) / std), atol=1e-6)


def test_crop_flip_is_a_zero_padded_shift_possibly_flipped():
    facts = CIFAR.replace(image_size=8)
    split = distinct_images(64)
    images, labels = collect(split, facts, train=True, batch_size=16, seed=3, epoch=1)
    padded = torch.nn.functional.pad(split.images, (4, 4, 4, 4))
    zero = (torch.zeros(3) / 255 - torch.tensor(facts.mean)) / torch.tensor(facts.std)
    shifts, flips = set(), set()
    order = make_batches(split, facts, train=True, batch_size=16, device="cpu", seed=3, epoch=1)
    sources = torch.cat(order.batches)
    for image, source in zip(denormalise(images, facts), sources):
        matches = [(top, left, flip) for top in range(9) for left in range(9) for flip in (False, True)
                   if torch.equal(image, (lambda w: w.flip(-1) if flip else w)(padded[source, :, top:top + 8,
                                                                                       left:left + 8]))]
        assert len(matches) == 1, "each sample is exactly one shift/flip of its zero-padded original"
        shifts.add(matches[0][:2])
        flips.add(matches[0][2])
    assert flips == {False, True} and len(shifts) > 10
    padding_pixels = denormalise(images, facts) == 0
    assert padding_pixels.any()
    normalised_zero = zero.view(1, 3, 1, 1).expand_as(images)
    assert torch.equal(images[padding_pixels], normalised_zero[padding_pixels])
    assert torch.equal(labels, split.labels[sources])


def test_eval_keeps_order_and_does_not_augment():
    facts = CIFAR.replace(image_size=8)
    split = distinct_images(10)
    batches = make_batches(split, facts, train=False, batch_size=4, device="cpu", seed=0, epoch=0)
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    images, labels = collect(split, facts, train=False, batch_size=4, seed=0, epoch=0)
    assert torch.equal(denormalise(images, facts), split.images)
    assert torch.equal(labels, split.labels)


def test_same_seed_and_epoch_repeat_and_another_epoch_differs():
    facts = CIFAR.replace(image_size=8)
    split = distinct_images(40)
    first = collect(split, facts, train=True, batch_size=8, seed=1, epoch=2)
    again = collect(split, facts, train=True, batch_size=8, seed=1, epoch=2)
    other = collect(split, facts, train=True, batch_size=8, seed=1, epoch=3)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[1], other[1]) and not torch.equal(first[0], other[0])


def test_a_stream_iterated_twice_gives_the_same_batches():
    facts = CIFAR.replace(image_size=8)
    batches = make_batches(distinct_images(20), facts, train=True, batch_size=8, device="cpu", seed=0, epoch=0)
    first, second = list(batches), list(batches)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second))


@pytest.mark.parametrize("count, train, lengths", [(10, True, [4, 4]), (8, True, [4, 4]), (3, True, [3]),
                                                   (10, False, [4, 4, 2]), (3, False, [3])])
def test_len_and_drop_last(count, train, lengths):
    batches = make_batches(distinct_images(count), CIFAR.replace(image_size=8), train=train, batch_size=4,
                           device="cpu", seed=0, epoch=0)
    assert len(batches) == len(lengths)
    assert [len(labels) for _, labels in batches] == lengths


def test_indices_restrict_and_order_samples():
    facts = CIFAR.replace(image_size=8)
    split = distinct_images(10)
    chosen = torch.tensor([7, 2, 5])
    images, labels = collect(split, facts, train=False, batch_size=2, seed=0, epoch=0, indices=chosen)
    assert torch.equal(denormalise(images, facts), split.images[chosen])
    _, shuffled = collect(split, facts, train=True, batch_size=8, seed=0, epoch=0, indices=chosen)
    assert sorted(shuffled.tolist()) == sorted(split.labels[chosen].tolist())


def test_tensor_images_are_moved_to_the_device_once():
    split = distinct_images(4)
    assert split.on_device("cpu")[0] is split.on_device(torch.device("cpu"))[0]


def test_tensor_images_are_resized_to_the_image_size():
    images, _ = collect(distinct_images(4, size=8), CIFAR.replace(image_size=16), train=False, batch_size=4,
                        seed=0, epoch=0)
    assert images.shape == (4, 3, 16, 16)


def test_global_rng_is_left_alone():
    state = torch.get_rng_state()
    collect(distinct_images(16), CIFAR.replace(image_size=8), train=True, batch_size=4, seed=0, epoch=0)
    assert torch.equal(state, torch.get_rng_state())


def test_unsupported_augment_for_storage():
    with pytest.raises(DatasetError, match="imagenet"):
        make_batches(distinct_images(4), CIFAR.replace(augment="imagenet"), train=True, batch_size=2,
                     device="cpu", seed=0, epoch=0)


# ---------------------------------------------------------------------------------------------- FileSplit path

def gradient_image(index: int) -> Image.Image:
    """A 60x40 RGB image with a horizontal gradient (module level: picklable for workers)."""
    row = np.linspace(0, 255, 60).astype(np.uint8)
    pixels = np.stack([np.tile(row, (40, 1)), np.full((40, 60), 10 * index, np.uint8),
                       np.tile(row[::-1], (40, 1))], axis=-1)
    return Image.fromarray(pixels)


def gradient_split(count: int = 6) -> FileSplit:
    return FileSplit(list(range(count)), torch.arange(count) % 2, gradient_image)


WOOF = get_facts("imagewoof").replace(image_size=24)


def test_file_split_eval_is_resize_and_center_crop():
    images, labels = collect(gradient_split(), WOOF, train=False, batch_size=4, seed=0, epoch=0)
    expected = transforms.Compose([transforms.Resize(round(24 * 256 / 224)), transforms.CenterCrop(24),
                                   transforms.ToTensor(), transforms.Normalize(WOOF.mean, WOOF.std)])
    assert images.shape == (6, 3, 24, 24) and labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert torch.equal(images, torch.stack([expected(gradient_image(i)) for i in range(6)]))


def test_file_split_train_augments_to_size_deterministically_with_any_workers():
    serial = collect(gradient_split(), WOOF, train=True, batch_size=3, seed=0, epoch=4)
    parallel = collect(gradient_split(), WOOF, train=True, batch_size=3, seed=0, epoch=4, num_workers=2)
    other_epoch = collect(gradient_split(), WOOF, train=True, batch_size=3, seed=0, epoch=5)
    assert serial[0].shape == (6, 3, 24, 24)
    assert torch.equal(serial[0], parallel[0]) and torch.equal(serial[1], parallel[1])
    assert not torch.equal(serial[0], other_epoch[0])


def test_synthetic_file_split_goes_through_pil_transforms():
    facts = get_facts("cub200").replace(image_size=32)
    train, _ = load_splits(facts, "synthetic", None, synthetic={"train_per_class": 1, "val_per_class": 1})
    image = train.open_image(train.items[0])
    assert isinstance(image, Image.Image) and image.size == (32, 32) and image.mode == "RGB"
    batches = make_batches(train, facts, train=True, batch_size=32, device="cpu", seed=0, epoch=0)
    images, labels = next(iter(batches))
    assert images.shape == (32, 3, 32, 32) and labels.dtype == torch.int64 and len(batches) == 200 // 32


def test_file_split_pickles_for_workers():
    facts = get_facts("imagewoof").replace(image_size=16)
    train, _ = load_splits(facts, "synthetic", None, synthetic={"train_per_class": 1, "val_per_class": 1})
    reopened = pickle.loads(pickle.dumps(train))
    assert np.array_equal(np.asarray(reopened.open_image(3)), np.asarray(train.open_image(3)))


def test_views_are_independent_augmentations_of_the_same_samples():
    from methods.data import TensorSplit, get_facts, make_batches
    facts = get_facts("cifar10").replace(image_size=8)
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    split = TensorSplit(images, torch.tensor([0, 0, 1, 1, 2, 2]))
    stream = make_batches(split, facts, train=True, batch_size=3, device="cpu", seed=0, epoch=1, views=2)
    for views, labels in stream:
        assert isinstance(views, list) and len(views) == 2 and views[0].shape == (3, 3, 8, 8)
        assert not torch.equal(views[0], views[1])
    single = next(iter(make_batches(split, facts, train=True, batch_size=3, device="cpu", seed=0, epoch=1)))
    assert torch.is_tensor(single[0])


def test_class_pairs_follow_each_batch_with_classmates():
    from methods.data import TensorSplit, get_facts, make_batches
    facts = get_facts("mnist").replace(image_size=4)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3])   # class 2 has one sample: its partner is itself
    split = TensorSplit(torch.arange(8, dtype=torch.uint8).view(8, 1, 1, 1).expand(8, 1, 4, 4).contiguous(),
                        labels)
    stream = make_batches(split, facts, train=True, batch_size=4, device="cpu", seed=3, epoch=1, class_pairs=True)
    assert len(stream) == 2
    for images, batch_labels in stream:
        first, partners = batch_labels[:4], batch_labels[4:]
        assert torch.equal(first, partners)
        # pixel value = sample index (MNIST normalisation inverted): a partner is another sample unless alone
        index = torch.round((images[:, 0, 0, 0] * facts.std[0] + facts.mean[0]) * 255).long()
        for own, partner, label in zip(index[:4], index[4:], first):
            assert labels[partner] == label
            assert (partner != own) == (label != 2)


def test_truncated_evaluation_scores_a_fixed_class_balanced_subset():
    from methods.data.batches import stratified_subset
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 4)        # class-sorted, as an image-folder split is
    subset = stratified_subset(labels, 6)
    assert subset.tolist() == [0, 1, 5, 6, 8, 9]               # two of each class, each class's first images
    assert torch.equal(stratified_subset(labels, 6), subset)   # fixed: no randomness
    assert sorted(stratified_subset(labels, 12).tolist()) == list(range(12))
    assert torch.bincount(labels[stratified_subset(labels, 9)]).tolist() == [3, 3, 3]


def test_long_decodes_say_what_they_do_and_how_far_they_are():
    import io
    from methods.data.progress import map_with_progress
    stream = io.StringIO()
    assert map_with_progress(lambda x: x * 2, range(5), "decoding 5 images", every_s=0.0, stream=stream) == [0, 2, 4, 6, 8]
    text = stream.getvalue()
    assert "decoding 5 images: 5 items" in text and "(" in text and "done, 5 in" in text


def slow_gradient_image(index: int) -> Image.Image:
    """gradient_image, slowly: the workers are still reading when a signal comes."""
    import time
    time.sleep(0.05)
    return gradient_image(index % 25)


def loader_workers() -> list[int]:
    """The pids of this process's children, read from /proc (a stream's DataLoader workers: those it added)."""
    import os
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0")) == os.getpid():
            children.append(int(status.parent.name))
    return children


def test_loader_workers_ignore_the_stop_signals_a_scheduler_sends_to_the_whole_job():
    """scancel sends SIGTERM to every process of a job step (USR1 before the time limit, SIGINT on Ctrl-C): the
    workers keep reading, so the main process can finish its step, checkpoint and shut them down itself."""
    import os
    import signal
    split = FileSplit(list(range(24)), torch.arange(24) % 2, slow_gradient_image)   # more than the prefetch holds
    serial = collect(split, WOOF, train=True, batch_size=3, seed=0, epoch=1)
    others = set(loader_workers())
    stream = iter(make_batches(split, WOOF, train=True, batch_size=3, device="cpu", seed=0, epoch=1, num_workers=2))
    first = [next(stream)]
    workers = sorted(set(loader_workers()) - others)
    assert len(workers) == 2
    for worker in workers:
        for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
            os.kill(worker, signum)
    rest = list(stream)
    images = torch.cat([batch[0] for batch in first + rest])
    assert torch.equal(images, serial[0])


def test_a_worker_that_dies_is_one_line_naming_the_batch():
    import os
    import signal
    split = FileSplit(list(range(48)), torch.arange(48) % 2, slow_gradient_image)   # more than the prefetch holds
    others = set(loader_workers())
    stream = iter(make_batches(split, WOOF, train=True, batch_size=3, device="cpu", seed=0, epoch=1, num_workers=2))
    next(stream)
    for worker in set(loader_workers()) - others:
        os.kill(worker, signal.SIGKILL)
    with pytest.raises(DatasetError, match=r"a data-loading worker died while batch \d+ of 16 was read .*lower "
                                           r"num_workers") as caught:
        list(stream)
    assert "\n" not in str(caught.value)


def test_in_a_distributed_run_loader_workers_start_from_a_fork_server_and_read_the_same_batches(tmp_path):
    """A worker forked from a process whose gloo threads hold a lock can wait on it forever (seen once: a 2-process
    run hung before its first batch), so the engine's Group asks for workers started from a fork server instead;
    under a real process group they read the same batches as forked ones."""
    import torch.distributed as dist
    assert Solo().worker_start == "fork"
    assert Group(World(0, 2, 0)).worker_start == "forkserver"
    forked = make_batches(gradient_split(), WOOF, train=True, batch_size=3, device="cpu", seed=0, epoch=4,
                          num_workers=2)
    assert forked.loader.multiprocessing_context is None
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        served = make_batches(gradient_split(), WOOF, train=True, batch_size=3, device="cpu", seed=0, epoch=4,
                              num_workers=2, worker_start=Group.worker_start)
        assert served.loader.multiprocessing_context.get_start_method() == "forkserver"
        for (forked_images, forked_labels), (served_images, served_labels) in zip(forked, served, strict=True):
            assert torch.equal(forked_images, served_images) and torch.equal(forked_labels, served_labels)
    finally:
        dist.destroy_process_group()


def test_an_unknown_worker_start_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="fork, forkserver"):
        make_batches(gradient_split(), WOOF, train=True, batch_size=3, device="cpu", seed=0, epoch=4,
                     num_workers=2, worker_start="spawn")
