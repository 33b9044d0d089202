"""The digits and synthetic sources, source validation, and (when present) the real MNIST files."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from methods.data import DatasetError, FileSplit, TensorSplit, dataset_names, describe_split, get_facts, load_splits

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist"


def test_digits_split_is_stratified_and_deterministic():
    facts = get_facts("digits")
    train, val = load_splits(facts, "digits", None)
    assert (len(train), len(val)) == (1347, 450)
    assert train.images.shape == (1347, 1, 8, 8) and train.images.dtype == torch.uint8
    assert train.images.max() == 255 and train.images.min() == 0
    train_counts = torch.bincount(train.labels, minlength=10)
    val_counts = torch.bincount(val.labels, minlength=10)
    assert (val_counts > 0).all() and (train_counts > 0).all()
    fraction = val_counts.float() / (train_counts + val_counts)
    assert ((fraction - 0.25).abs() < 0.01).all()
    again_train, again_val = load_splits(facts, "digits", None)
    assert torch.equal(train.images, again_train.images) and torch.equal(val.labels, again_val.labels)


def test_digits_pixels_are_scaled_from_0_16():
    from sklearn.datasets import load_digits
    digits = load_digits()
    train, val = load_splits(get_facts("digits"), "digits", None)
    all_values = set(torch.cat([train.images.flatten(), val.images.flatten()]).unique().tolist())
    assert all_values <= {round(v * 255 / 16) for v in range(17)}
    assert len(train) + len(val) == len(digits.images)


SMALL = {"train_per_class": 20, "val_per_class": 10}


def test_synthetic_is_deterministic_and_ignores_the_global_rng():
    facts = get_facts("cifar10")
    torch.manual_seed(1)
    first = load_splits(facts, "synthetic", None, synthetic=SMALL)
    torch.manual_seed(2)
    second = load_splits(facts, "synthetic", None, synthetic=SMALL)
    for a, b in zip(first, second):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


@pytest.mark.parametrize("name", dataset_names())
def test_synthetic_has_the_facts_shape(name):
    facts = get_facts(name)
    per_class = {"train_per_class": 2, "val_per_class": 1}
    train, val = load_splits(facts, "synthetic", None, synthetic=per_class)
    assert (len(train), len(val)) == (2 * facts.num_classes, facts.num_classes)
    assert train.num_classes_present() == val.num_classes_present() == facts.num_classes
    assert describe_split(train)["storage"] == facts.storage
    if facts.storage == "tensor":
        assert isinstance(train, TensorSplit) and train.images.dtype == torch.uint8
        assert train.images.shape[1:] == (facts.channels, facts.image_size, facts.image_size)
    else:
        assert isinstance(train, FileSplit)
        image = val.open_image(val.items[-1])
        assert image.size == (facts.image_size, facts.image_size) and len(image.getbands()) == facts.channels


def nearest_class_mean_accuracy(train: TensorSplit, val: TensorSplit) -> float:
    classes = int(train.labels.max()) + 1
    features = train.images.flatten(1).float()
    means = torch.stack([features[train.labels == k].mean(0) for k in range(classes)])
    predicted = torch.cdist(val.images.flatten(1).float(), means).argmin(1)
    return (predicted == val.labels).float().mean().item()


@pytest.mark.parametrize("name, minimum", [("cifar10", 0.9), ("cifar100", 0.6), ("mnist", 0.9)])
def test_synthetic_is_learnable(name, minimum):
    train, val = load_splits(get_facts(name), "synthetic", None, synthetic=SMALL)
    assert nearest_class_mean_accuracy(train, val) >= minimum


def test_synthetic_imagenet_is_fast():
    start = time.perf_counter()
    train, val = load_splits(get_facts("imagenet"), "synthetic", None,
                             synthetic={"train_per_class": 3, "val_per_class": 1})
    train.open_image(train.items[0])
    assert time.perf_counter() - start < 5
    assert len(train) == 3000 and val.open_image(val.items[0]).size == (224, 224)


def test_synthetic_needs_its_counts():
    with pytest.raises(DatasetError, match="train_per_class"):
        load_splits(get_facts("cifar10"), "synthetic", None)


@pytest.mark.parametrize("name, source, valid", [("cifar10", "digits", "real, synthetic"),
                                                 ("digits", "real", "digits, synthetic"),
                                                 ("mnist", "imagenet", "real, synthetic")])
def test_invalid_source_names_the_valid_ones(name, source, valid):
    with pytest.raises(DatasetError, match=f"valid sources: {valid}"):
        load_splits(get_facts(name), source, None)


@pytest.mark.skipif(not (SHARED_MNIST / "raw").is_dir(),
                    reason=f"real MNIST files not present at {SHARED_MNIST}/raw (the shared/ checkout beside the repo)")
def test_real_mnist_gz_files_have_table_1_sizes(tmp_path):
    (tmp_path / "mnist").symlink_to(SHARED_MNIST, target_is_directory=True)
    train, val = load_splits(get_facts("mnist"), "real", tmp_path)
    assert train.images.shape == (60000, 1, 28, 28) and val.images.shape == (10000, 1, 28, 28)
    assert train.labels[:3].tolist() == [5, 0, 4] and val.labels[:3].tolist() == [7, 2, 1]
    assert train.images.dtype == torch.uint8 and int(train.images.max()) == 255
