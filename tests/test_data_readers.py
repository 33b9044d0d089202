"""Every real on-disk format, fabricated tiny in tmp_path and read through load_splits(..., "real", root)."""
from __future__ import annotations

import gzip
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from methods.data import DatasetError, FileSplit, TensorSplit, get_facts, load_splits, make_batches
from methods.plan.facts import dataset_names
from methods.data.readers import tiny_imagenet

RNG = np.random.default_rng(0)


def facts_for(name: str, classes: int, train: int, val: int, **changes):
    return get_facts(name).replace(num_classes=classes, train_size=train, val_size=val, **changes)


def write_image(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (20, 16), mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, color)
    image.convert(mode).save(path, format="PNG" if path.suffix == ".png" else "JPEG", quality=95)


def class_color(label: int) -> tuple[int, int, int]:
    return (40 + 60 * label, 200 - 50 * label, 100)


def assert_files_match(split: FileSplit, expected: list[tuple[str, int]]) -> None:
    """split holds exactly these (file name, label) pairs, and every item opens as an RGB image of its class."""
    assert sorted((Path(item).name, int(label)) for item, label in zip(split.items, split.labels)) == sorted(expected)
    assert split.labels.dtype == torch.int64
    for item, label in zip(split.items, split.labels):
        image = split.open_image(item)
        assert image.mode == "RGB"
        if Image.open(item).mode == "RGB":
            assert np.abs(np.asarray(image, dtype=int)[8, 8] - class_color(int(label))).max() <= 4   # JPEG


# ---------------------------------------------------------------------------------------------- MNIST

def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x0800 + array.ndim
    return struct.pack(f">i{array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, gz: bool) -> dict[str, np.ndarray]:
    arrays = {"train-images-idx3-ubyte": RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": np.array([0, 1, 2, 0, 1, 2], np.uint8),
              "t10k-images-idx3-ubyte": RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": np.array([2, 1, 0], np.uint8)}
    folder.mkdir(parents=True)
    for name, array in arrays.items():
        data = idx_bytes(array)
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("subfolder", ["MNIST/raw", "raw", "."])
def test_mnist_idx_files_round_trip(tmp_path, gz, subfolder):
    arrays = write_mnist(tmp_path / "mnist" / subfolder, gz)
    train, val = load_splits(facts_for("mnist", 3, 6, 3), "real", tmp_path)
    assert isinstance(train, TensorSplit)
    assert train.images.shape == (6, 1, 28, 28) and train.images.dtype == torch.uint8
    assert torch.equal(train.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert torch.equal(val.images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))
    assert train.labels.dtype == torch.int64 and val.labels.tolist() == [2, 1, 0]


def test_mnist_wrong_magic_number(tmp_path):
    write_mnist(tmp_path / "mnist", gz=False)
    images = tmp_path / "mnist" / "train-images-idx3-ubyte"
    images.write_bytes(struct.pack(">i", 1234) + images.read_bytes()[4:])
    with pytest.raises(DatasetError, match="magic number 1234"):
        load_splits(facts_for("mnist", 3, 6, 3), "real", tmp_path)


# ---------------------------------------------------------------------------------------------- CIFAR

def write_pickle(path: Path, batch: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar10_batches_round_trip(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    data = RNG.integers(0, 256, (14, 3072), dtype=np.uint8)
    labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 2, 1, 0, 1]
    for i in range(5):
        write_pickle(folder / f"data_batch_{i + 1}", {"data": data[2 * i:2 * i + 2], "labels": labels[2 * i:2 * i + 2],
                                                      "batch_label": f"training batch {i + 1} of 5"})
    write_pickle(folder / "test_batch", {"data": data[10:], "labels": labels[10:]})
    train, val = load_splits(facts_for("cifar10", 3, 10, 4), "real", tmp_path)
    assert train.images.shape == (10, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(train.images.reshape(10, -1), torch.from_numpy(data[:10]))
    # channel planes: the first 1024 values of a row are the red 32x32 plane
    assert train.images[3, 0, 1, 0] == data[3, 32] and train.images[3, 2, 0, 0] == data[3, 2048]
    assert train.labels.tolist() == labels[:10] and val.labels.tolist() == labels[10:]


def test_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    data = RNG.integers(0, 256, (7, 3072), dtype=np.uint8)
    write_pickle(folder / "train", {"data": data[:4], "fine_labels": [0, 1, 2, 1], "coarse_labels": [9, 9, 9, 9]})
    write_pickle(folder / "test", {"data": data[4:], "fine_labels": [2, 0, 1], "coarse_labels": [9, 9, 9]})
    train, val = load_splits(facts_for("cifar100", 3, 4, 3), "real", tmp_path)
    assert train.labels.tolist() == [0, 1, 2, 1] and val.labels.tolist() == [2, 0, 1]
    assert torch.equal(val.images.reshape(3, -1), torch.from_numpy(data[4:]))


# ---------------------------------------------------------------------------------------------- image folders

WNIDS = ["n02086240", "n02087394", "n02088364"]


def write_image_folders(data_dir: Path, per_class: dict[str, int]) -> dict[str, list[tuple[str, int]]]:
    expected = {}
    for part, count in per_class.items():
        expected[part] = []
        for label, wnid in enumerate(WNIDS):
            for i in range(count):
                name = f"{wnid}_{part}{i}.JPEG"
                write_image(data_dir / part / wnid / name, class_color(label))
                expected[part].append((name, label))
    return expected


@pytest.mark.parametrize("name", ["imagewoof", "imagenet"])
def test_image_folders(tmp_path, name):
    data_dir = tmp_path / get_facts(name).root_dir
    expected = write_image_folders(data_dir, {"train": 3, "val": 2})
    write_image(data_dir / "train" / WNIDS[0] / "gray.JPEG", (128, 128, 128), mode="L")
    expected["train"].append(("gray.JPEG", 0))
    (data_dir / "train" / WNIDS[0] / "notes.txt").write_text("not an image")
    train, val = load_splits(facts_for(name, 3, 10, 6), "real", tmp_path)
    assert isinstance(train, FileSplit)
    assert_files_match(train, expected["train"])
    assert_files_match(val, expected["val"])


def test_image_folders_val_class_unknown_to_train(tmp_path):
    data_dir = tmp_path / "imagewoof2"
    write_image_folders(data_dir, {"train": 1, "val": 1})
    write_image(data_dir / "val" / "n99999999" / "x.JPEG", (0, 0, 0))
    with pytest.raises(DatasetError, match="n99999999"):
        load_splits(facts_for("imagewoof", 3, 3, 4), "real", tmp_path)


def test_the_data_check_decodes_every_image_and_names_a_corrupt_one(tmp_path):
    from methods.data.loading import check_decodable
    data_dir = tmp_path / "imagewoof2"
    write_image_folders(data_dir, {"train": 2, "val": 1})
    _, val = load_splits(facts_for("imagewoof", 3, 6, 3, image_size=16), "real", tmp_path)
    check_decodable(val, "checking")
    broken = data_dir / "val" / WNIDS[2] / f"{WNIDS[2]}_val0.JPEG"
    broken.write_bytes(broken.read_bytes()[:200])
    with pytest.raises(DatasetError, match=f"{broken}.*re-download"):
        check_decodable(val, "checking")


def test_corrupt_jpeg_is_named_when_opened(tmp_path):
    data_dir = tmp_path / "imagewoof2"
    write_image_folders(data_dir, {"train": 2, "val": 1})
    broken = data_dir / "val" / WNIDS[1] / f"{WNIDS[1]}_val0.JPEG"
    broken.write_bytes(broken.read_bytes()[:200])    # truncated
    facts = facts_for("imagewoof", 3, 6, 3, image_size=16)
    _, val = load_splits(facts, "real", tmp_path)
    with pytest.raises(DatasetError, match=f"{broken}.*re-download"):
        list(make_batches(val, facts, train=False, batch_size=2, device="cpu", seed=0, epoch=0))
    broken.write_bytes(b"this is not a JPEG")
    with pytest.raises(DatasetError, match=str(broken)):
        val.open_image(str(broken))


# ---------------------------------------------------------------------------------------------- CUB-200

def test_cub200_tables(tmp_path):
    data_dir = tmp_path / "CUB_200_2011"
    folders = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
    rows, expected = [], {"train": [], "val": []}
    for image_id in range(1, 10):
        label = (image_id - 1) % 3
        name = f"{folders[label].split('.')[1]}_{image_id:04d}.jpg"
        write_image(data_dir / "images" / folders[label] / name, class_color(label))
        is_train = int(image_id <= 6)
        rows.append((image_id, f"{folders[label]}/{name}", label + 1, is_train))
        expected["train" if is_train else "val"].append((name, label))
    for table, column in (("images.txt", 1), ("image_class_labels.txt", 2), ("train_test_split.txt", 3)):
        (data_dir / table).write_text("".join(f"{row[0]} {row[column]}\n" for row in rows))
    train, val = load_splits(facts_for("cub200", 3, 6, 3), "real", tmp_path)
    assert_files_match(train, expected["train"])
    assert_files_match(val, expected["val"])


# ---------------------------------------------------------------------------------------------- Stanford Dogs

def write_mat_list(path: Path, files: list[str], labels: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = np.empty((len(files), 1), dtype=object)
    cells[:, 0] = files
    scipy.io.savemat(path, {"file_list": cells, "annotation_list": cells,
                            "labels": np.array(labels, dtype=np.float64)[:, None]})


@pytest.mark.parametrize("lists_folder", [".", "lists"])
def test_stanford_dogs_mat_lists(tmp_path, lists_folder):
    data_dir = tmp_path / "stanford_dogs"
    breeds = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel", "n02085936-Maltese_dog"]
    split_files = {"train": [], "test": []}
    for label, breed in enumerate(breeds):
        for i in range(3):
            relative = f"{breed}/{breed.split('-')[0]}_{i}.jpg"
            write_image(data_dir / "Images" / relative, class_color(label))
            split_files["train" if i < 2 else "test"].append((relative, label))
    for part, rows in split_files.items():
        write_mat_list(data_dir / lists_folder / f"{part}_list.mat", [r for r, _ in rows], [lab + 1 for _, lab in rows])
    train, val = load_splits(facts_for("stanford_dogs", 3, 6, 3), "real", tmp_path)
    assert_files_match(train, [(Path(r).name, lab) for r, lab in split_files["train"]])
    assert_files_match(val, [(Path(r).name, lab) for r, lab in split_files["test"]])


# ---------------------------------------------------------------------------------------------- Tiny ImageNet

def write_tiny(data_dir: Path) -> dict[str, list[int]]:
    wnids = ["n01443537", "n01629819", "n01641577"]
    (data_dir / "wnids.txt").parent.mkdir(parents=True)
    (data_dir / "wnids.txt").write_text("\n".join(reversed(wnids)) + "\n")     # file order is not class order
    for label, wnid in enumerate(wnids):
        for i in range(2):
            write_image(data_dir / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", class_color(label), (64, 64),
                        mode="L" if (label, i) == (2, 1) else "RGB")
        (data_dir / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    annotations = []
    for i, label in enumerate([1, 0, 2, 1]):
        write_image(data_dir / "val" / "images" / f"val_{i}.JPEG", class_color(label), (64, 64))
        annotations.append(f"val_{i}.JPEG\t{wnids[label]}\t0\t0\t63\t63\n")
    (data_dir / "val" / "val_annotations.txt").write_text("".join(annotations))
    return {"train": [0, 0, 1, 1, 2, 2], "val": [1, 0, 2, 1]}


def tiny_facts():
    return facts_for("tiny_imagenet", 3, 6, 4)


def test_tiny_imagenet_decodes_to_uint8_tensors(tmp_path):
    labels = write_tiny(tmp_path / "tiny-imagenet-200")
    train, val = load_splits(tiny_facts(), "real", tmp_path)
    assert train.images.shape == (6, 3, 64, 64) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == labels["train"] and val.labels.tolist() == labels["val"]
    for image, label in zip(val.images, val.labels):
        assert (image[:, 32, 32].int() - torch.tensor(class_color(int(label)))).abs().max() <= 4
    gray = train.images[5]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_tiny_imagenet_cache_written_once_and_reused(tmp_path, monkeypatch):
    write_tiny(tmp_path / "tiny-imagenet-200")
    cache = tmp_path / "cache"
    first = load_splits(tiny_facts(), "real", tmp_path, cache_dir=cache)
    files = sorted(cache.iterdir())
    assert [re.sub(r"-[0-9a-f]{8}-[0-9a-f]{16}\.", "-<copy>-<state>.", f.name) for f in files] == [
        "tiny_imagenet-train-64px-<copy>-<state>.images.npy", "tiny_imagenet-val-64px-<copy>-<state>.images.npy"]
    stamps = [f.stat().st_mtime_ns for f in files]

    def no_decoding(*args):
        raise AssertionError("decoded again although the cache exists")
    monkeypatch.setattr(tiny_imagenet, "decode_rgb", no_decoding)
    second = load_splits(tiny_facts(), "real", tmp_path, cache_dir=cache)
    assert [f.stat().st_mtime_ns for f in sorted(cache.iterdir())] == stamps
    for before, after in zip(first, second):
        assert torch.equal(before.images, after.images) and torch.equal(before.labels, after.labels)


def test_a_cache_is_never_fed_from_another_copy_or_a_changed_file(tmp_path):
    """Two copies under two data roots, one with a truncated JPEG: the second is decoded (and fails, naming the
    file), never read from the first copy's cache; a file changed in place is decoded again too."""
    good, bad, cache = tmp_path / "good", tmp_path / "bad", tmp_path / "cache"
    write_tiny(good / "tiny-imagenet-200")
    write_tiny(bad / "tiny-imagenet-200")
    load_splits(tiny_facts(), "real", good, cache_dir=cache)
    broken = bad / "tiny-imagenet-200" / "val" / "images" / "val_2.JPEG"
    broken.write_bytes(broken.read_bytes()[:40])
    with pytest.raises(DatasetError, match="val_2.JPEG"):
        load_splits(tiny_facts(), "real", bad, cache_dir=cache)
    image = good / "tiny-imagenet-200" / "val" / "images" / "val_1.JPEG"
    image.write_bytes(image.read_bytes()[:40])   # the copy the cache was made from, changed in place
    with pytest.raises(DatasetError, match="val_1.JPEG"):
        load_splits(tiny_facts(), "real", good, cache_dir=cache)


def test_an_edited_label_is_never_served_from_the_cache(tmp_path):
    """Labels come from the listing every time (only pixels are cached): one label changed in
    val/val_annotations.txt after the cache was built is what the loader serves."""
    labels = write_tiny(tmp_path / "tiny-imagenet-200")
    cache = tmp_path / "cache"
    _, val = load_splits(tiny_facts(), "real", tmp_path, cache_dir=cache)
    listing = tmp_path / "tiny-imagenet-200" / "val" / "val_annotations.txt"
    rows = [line.split("\t") for line in listing.read_text().splitlines()]
    wnids = sorted({row[1] for row in rows})
    rows[0][1] = next(wnid for wnid in wnids if wnid != rows[0][1])   # the first image relabelled
    listing.write_text("\n".join("\t".join(row) for row in rows) + "\n")
    _, relabelled = load_splits(tiny_facts(), "real", tmp_path, cache_dir=cache)
    assert int(relabelled.labels[0]) != int(val.labels[0])
    assert torch.equal(relabelled.labels[1:], val.labels[1:]) and torch.equal(relabelled.images, val.images)


def test_a_same_size_edit_copied_back_with_its_old_mtime_is_decoded_again_and_old_versions_are_pruned(tmp_path):
    """`cp -p` / `rsync -t` keep a file's size and mtime; its change time moves, and so does the cache's key. After
    the rebuild only the newest version of each cache is left."""
    import os
    write_tiny(tmp_path / "tiny-imagenet-200")
    cache = tmp_path / "cache"
    _, before = load_splits(tiny_facts(), "real", tmp_path, cache_dir=cache)
    image = tmp_path / "tiny-imagenet-200" / "val" / "images" / "val_1.JPEG"
    stat = image.stat()
    edited = bytearray(image.read_bytes())
    edited[-40:-3] = bytes(37)                       # the same size, some of the image's bytes changed
    image.write_bytes(bytes(edited))
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))   # the old mtime back, as cp -p would
    assert image.stat().st_size == stat.st_size and image.stat().st_mtime_ns == stat.st_mtime_ns
    _, after = load_splits(tiny_facts(), "real", tmp_path, cache_dir=cache)
    assert not torch.equal(after.images[1], before.images[1])   # decoded again from the edited bytes
    assert len(list(cache.glob("tiny_imagenet-val-*.npy"))) == 1 and len(list(cache.glob("*.npy"))) == 2


def test_a_killed_writers_temporary_cache_file_is_removed_by_the_next_run(tmp_path):
    write_tiny(tmp_path / "tiny-imagenet-200")
    cache = tmp_path / "cache"
    cache.mkdir()
    orphan = cache / "tiny_imagenet-train-6-64px-0123456789abcdef.images.npy.999999999.tmp"   # no such process
    orphan.write_bytes(b"half")
    load_splits(tiny_facts(), "real", tmp_path, cache_dir=cache)
    assert not orphan.exists() and not list(cache.glob("*.tmp"))


def test_tiny_imagenet_corrupt_jpeg_named_while_decoding(tmp_path):
    write_tiny(tmp_path / "tiny-imagenet-200")
    broken = tmp_path / "tiny-imagenet-200" / "val" / "images" / "val_2.JPEG"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DatasetError, match=f"{broken}.*re-download"):
        load_splits(tiny_facts(), "real", tmp_path)


# ---------------------------------------------------------------------------------------------- CIFAR-10-JPEG

CIFAR_CLASSES = ["airplane", "automobile", "bird"]


def test_cifar10_jpeg_folders_decode_to_uint8_tensors(tmp_path):
    data_dir = tmp_path / "cifar10-jpeg"
    for part, count in (("train", 2), ("test", 1)):
        for label, name in enumerate(CIFAR_CLASSES):
            for i in range(count):
                write_image(data_dir / part / name / f"{i:04d}.jpg", class_color(label), size=(32, 32))
    train, val = load_splits(facts_for("cifar10_jpeg", 3, 6, 3), "real", tmp_path, cache_dir=tmp_path / "cache")
    assert isinstance(train, TensorSplit) and train.images.shape == (6, 3, 32, 32) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2] and val.labels.tolist() == [0, 1, 2]  # sorted class folders
    for image, label in zip(val.images, val.labels):
        assert (image[:, 16, 16].int() - torch.tensor(class_color(int(label)))).abs().max() <= 4   # JPEG


def test_cifar10_jpeg_still_zipped_says_unzip(tmp_path):
    (tmp_path / "cifar10-jpeg").mkdir()
    (tmp_path / "cifar10-jpeg" / "cifar10-jpeg.zip").write_bytes(b"PK")
    with pytest.raises(DatasetError, match="unzip cifar10-jpeg.zip here"):
        load_splits(get_facts("cifar10_jpeg"), "real", tmp_path)


# ---------------------------------------------------------------------------------------------- ImageNet Dogs

# (wnid, label id in the release, dog class expected): ids follow map_clsloc.txt, not the sorted-wnid order
MAP_ROWS = [("n02119789", 1, None), ("n02113978", 2, 2), ("n01440764", 3, None), ("n02085620", 4, 0),
            ("n02099601", 5, 1), ("n02077923", 6, None), ("n02114367", 7, None)]


def write_imagenet64(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    data_dir.mkdir(parents=True)
    (data_dir / "map_clsloc.txt").write_text("".join(f"{w} {i} name_{i}\n" for w, i, _ in MAP_ROWS))
    written = {}
    for name in [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]:
        label_ids = RNG.permutation(len(MAP_ROWS)) + 1      # every class, in a different order per file
        data = RNG.integers(0, 256, (len(label_ids), 64 * 64 * 3), dtype=np.uint8)
        np.savez(data_dir / f"{name}.npz", data=data, labels=label_ids.tolist(), mean=data.mean(0))
        written[name] = (data, label_ids)
    return written


def expected_dogs(written, names) -> tuple[np.ndarray, list[int]]:
    dog_of_id = {label_id: dog for _, label_id, dog in MAP_ROWS}
    rows, labels = [], []
    for name in names:
        data, label_ids = written[name]
        for row, label_id in zip(data, label_ids):
            if dog_of_id[label_id] is not None:
                rows.append(row)
                labels.append(dog_of_id[label_id])
    return np.stack(rows), labels


def test_imagenet_dogs_keeps_dogs_in_sorted_wnid_order(tmp_path):
    written = write_imagenet64(tmp_path / "imagenet64")
    train_rows, train_labels = expected_dogs(written, [f"train_data_batch_{i}" for i in range(1, 11)])
    val_rows, val_labels = expected_dogs(written, ["val_data"])
    train, val = load_splits(facts_for("imagenet_dogs", len(set(train_labels)), len(train_labels), len(val_labels)),
                             "real", tmp_path)
    assert train.images.shape == (len(train_labels), 3, 64, 64) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == train_labels and val.labels.tolist() == val_labels
    assert torch.equal(train.images.reshape(len(train_labels), -1), torch.from_numpy(train_rows))
    assert torch.equal(val.images.reshape(len(val_labels), -1), torch.from_numpy(val_rows))
    # 'data' rows are 3 planes: R (first 4096 values), G, B
    assert train.images[0, 1, 0, 5] == train_rows[0, 4096 + 5]


def test_imagenet_dogs_needs_the_map_file(tmp_path):
    write_imagenet64(tmp_path / "imagenet64")
    (tmp_path / "imagenet64" / "map_clsloc.txt").unlink()
    with pytest.raises(DatasetError, match="map_clsloc.txt"):
        load_splits(get_facts("imagenet_dogs"), "real", tmp_path)


# ---------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("name", [n for n in dataset_names() if get_facts(n).reader])
def test_missing_directory_names_layout_and_source(tmp_path, name):
    facts = get_facts(name)
    with pytest.raises(DatasetError) as raised:
        load_splits(facts, "real", tmp_path)
    message = str(raised.value)
    for part in (facts.layout, facts.get_it, str(tmp_path / facts.root_dir), "data_root"):
        assert part in message


def test_no_data_root(tmp_path):
    with pytest.raises(DatasetError, match="data_root"):
        load_splits(get_facts("cifar10"), "real", None)


def test_wrong_split_size_says_found_and_expected(tmp_path):
    write_mnist(tmp_path / "mnist" / "raw", gz=True)
    facts = get_facts("mnist")
    with pytest.raises(DatasetError) as raised:
        load_splits(facts, "real", tmp_path)
    message = str(raised.value)
    assert "found 3 classes in train and 3 in val, 6 train and 3 val images" in message
    assert "expected 10 classes, 60000 train and 10000 val images (paper Table 1)" in message
    assert facts.layout in message and facts.get_it in message
