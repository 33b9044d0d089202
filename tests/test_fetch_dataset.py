"""Whole datasets fetched into the layout their readers expect, over a real HTTP server on loopback (no test reaches
the internet): each plan keeps config/datasets.yaml's file names and unpack folders and swaps in fabricated files,
so a test passes only if the configured layout is the one the real reader reads."""
from __future__ import annotations

import gzip
import hashlib
import json
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from dataclasses import replace

import numpy as np
import pytest

from methods import PROJECT_ROOT
from methods.data.fetch import FetchError, Source
from methods.data.fetch_dataset import (DatasetFetch, fetch_dataset, fetch_plan, mirror_of, read_record,
                                        with_mirror)
from methods.data.loading import load_splits
from methods.plan.facts import dataset_names, fetch_entry, get_facts
from test_data_readers import idx_bytes, write_image, write_mat_list
from test_fetch import quiet, server  # noqa: F401  (the loopback server fixture)


def planned(dataset: str) -> DatasetFetch:
    return fetch_plan(dataset, fetch_entry(dataset), get_facts(dataset).root_dir)


def served(plan: DatasetFetch, bodies: dict[str, bytes], handler, base: str, **published) -> DatasetFetch:
    """`plan` with each file's source replaced by a fabricated body served at base/<dataset>/<name>, its size and
    checksums those of the body (published: which of size, sha256, md5 to give; default all)."""
    give = {"size": True, "sha256": True, "md5": True, **published}
    files = []
    for entry in plan.files:
        body = bodies[entry.source.name]
        handler.files[f"/{plan.dataset}/{entry.source.name}"] = body
        files.append(replace(entry, source=Source(
            entry.source.name, (f"{base}/{plan.dataset}/{entry.source.name}",),
            len(body) if give["size"] else None, hashlib.sha256(body).hexdigest() if give["sha256"] else None,
            hashlib.md5(body).hexdigest() if give["md5"] else None)))
    return replace(plan, files=tuple(files))


def mnist_bodies() -> tuple[dict[str, bytes], np.ndarray]:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    arrays = {"train-images-idx3-ubyte": train, "train-labels-idx1-ubyte": np.array([0, 1, 2, 0, 1, 2], np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": np.array([2, 1, 0], np.uint8)}
    return {f"{name}.gz": gzip.compress(idx_bytes(array), mtime=0) for name, array in arrays.items()}, train


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_every_public_dataset_has_sources_with_sizes_and_a_cited_checksum():
    """Each file of every fetchable dataset names a URL and its size, and a SHA-256 or MD5 (config/datasets.yaml);
    every dataset of the paper can be fetched or is account-only."""
    fetchable = {name for name in dataset_names() if fetch_entry(name)}
    assert {"mnist", "cifar10", "cifar100", "cub200", "stanford_dogs", "imagewoof", "tiny_imagenet", "imagenet",
            "imagenet_dogs", "cifar10_jpeg"} <= fetchable
    for name in fetchable:
        plan = planned(name)
        for entry in plan.files:
            assert entry.source.size or entry.unpack == "devkit", (name, entry)   # ImageNet's devkit: md5 only
            assert entry.source.sha256 or entry.source.md5, (name, entry)
            assert plan.account_only or entry.source.urls, (name, entry)


def test_mnist_fetched_over_loopback_is_what_its_reader_reads_and_a_second_fetch_downloads_nothing(server, tmp_path):
    handler, base = server
    bodies, train_images = mnist_bodies()
    plan = served(planned("mnist"), bodies, handler, base)
    record = fetch_dataset(plan, tmp_path / "data", say=quiet)
    assert record["how"] == "fetched" and {f["name"] for f in record["files"]} == set(bodies)
    assert all(f["matched"] == ["size", "sha256", "md5"] for f in record["files"])
    facts = get_facts("mnist").replace(num_classes=3, train_size=6, val_size=3)
    train, val = load_splits(facts, "real", tmp_path / "data")
    assert np.array_equal(train.images[:, 0].numpy(), train_images) and val.labels.tolist() == [2, 1, 0]
    requests = len(handler.log)
    again = fetch_dataset(plan, tmp_path / "data", say=quiet)
    assert again == record and len(handler.log) == requests
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".fetch-")]


def test_stanford_dogs_two_archives_make_one_folder_its_reader_reads(server, tmp_path):
    handler, base = server
    breeds = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel"]
    images, files = {}, []
    for label, breed in enumerate(breeds):
        for k in range(2):
            path = tmp_path / "src" / f"{breed}_{k}.jpg"
            write_image(path, (40 * label + 10, 20, 200))
            images[f"Images/{breed}/{breed}_{k}.jpg"] = path.read_bytes()
            files.append((f"{breed}/{breed}_{k}.jpg", label + 1))
    lists = tmp_path / "lists"
    lists.mkdir()
    write_mat_list(lists / "train_list.mat", [f for f, _ in files[::2]], [l for _, l in files[::2]])
    write_mat_list(lists / "test_list.mat", [f for f, _ in files[1::2]], [l for _, l in files[1::2]])
    bodies = {"images.tar": tar_of(images),
              "lists.tar": tar_of({name: (lists / name).read_bytes() for name in ("train_list.mat", "test_list.mat")}),
              "annotation.tar": tar_of({"Annotation/README": b"boxes"})}
    plan = served(planned("stanford_dogs"), bodies, handler, base)
    fetch_dataset(plan, tmp_path / "data", say=quiet)
    facts = get_facts("stanford_dogs").replace(num_classes=2, train_size=2, val_size=2)
    train, val = load_splits(facts, "real", tmp_path / "data")
    assert sorted(train.labels.tolist()) == [0, 1] and len(val.items) == 2


def test_a_local_archive_is_verified_and_unpacked_where_it_is_never_copied(tmp_path):
    """The CIFAR-10-JPEG zip of the project's shared data: a file path as the source."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train/cat/0.jpg", b"jpeg")
        archive.writestr("test/cat/0.jpg", b"jpeg")
    local = tmp_path / "shared" / "cifar10-jpeg.zip"
    local.parent.mkdir()
    local.write_bytes(buffer.getvalue())
    plan = planned("cifar10_jpeg")
    assert plan.files[0].source.urls[0].endswith("shared/datasets/cifar10-jpeg/cifar10-jpeg.zip")
    body = local.read_bytes()
    plan = replace(plan, files=(replace(plan.files[0], source=Source(
        plan.files[0].source.name, (str(local),), len(body), hashlib.sha256(body).hexdigest())),))
    record = fetch_dataset(plan, tmp_path / "data", say=quiet)
    assert (tmp_path / "data/cifar10-jpeg/train/cat/0.jpg").read_bytes() == b"jpeg"
    assert record["files"][0]["url"] == local.as_uri()
    assert not (tmp_path / "data/downloads/cifar10_jpeg" / local.name).exists()


def test_the_mirror_setting_is_tried_first_and_the_environment_wins(server, tmp_path, monkeypatch):
    handler, base = server
    bodies, _ = mnist_bodies()
    plan = served(planned("mnist"), bodies, handler, base)
    for name, body in bodies.items():
        handler.files[f"/mirror/mnist/{name}"] = body
    assert mirror_of("http://config.invalid", {"FOCUSNET_DATA_MIRROR": f"{base}/mirror"}) == f"{base}/mirror"
    assert mirror_of("", {}) is None
    fetch_dataset(with_mirror(plan, f"{base}/mirror"), tmp_path / "data", say=quiet)
    assert {path for path, _ in handler.log} == {f"/mirror/mnist/{name}" for name in bodies}


def test_a_mirror_folder_is_read_in_place(tmp_path):
    bodies, _ = mnist_bodies()
    folder = tmp_path / "mirror" / "mnist"
    folder.mkdir(parents=True)
    files = []
    for entry in planned("mnist").files:
        (folder / entry.source.name).write_bytes(bodies[entry.source.name])
        body = bodies[entry.source.name]
        files.append(replace(entry, source=replace(entry.source, urls=("http://127.0.0.1:9/gone",), size=len(body),
                                                   sha256=hashlib.sha256(body).hexdigest(), md5=None)))
    plan = with_mirror(replace(planned("mnist"), files=tuple(files)), str(tmp_path / "mirror"))
    record = fetch_dataset(plan, tmp_path / "data", say=quiet)
    assert all(f["url"].startswith("file://") for f in record["files"])


def test_without_a_published_sha256_the_measured_one_binds_the_next_fetch(server, tmp_path):
    handler, base = server
    body = tar_of({"tiny-imagenet-200/wnids.txt": b"n01443537\n"})
    plan = served(planned("tiny_imagenet"), {"tiny-imagenet-200.zip": body}, handler, base, sha256=False)
    record = fetch_dataset(plan, tmp_path / "data", say=quiet)
    assert record["files"][0]["matched"] == ["size", "md5"]
    assert record["files"][0]["sha256"] == hashlib.sha256(body).hexdigest()
    # the publisher re-releases the file (same size, same md5 given: only the measured sha256 can tell)
    (tmp_path / "data/downloads/tiny_imagenet/tiny-imagenet-200.zip").unlink()
    shutil.rmtree(tmp_path / "data/tiny-imagenet-200")
    handler.files["/tiny_imagenet/tiny-imagenet-200.zip"] = body[:-1] + b"\x01"
    plan = replace(plan, files=(replace(plan.files[0], source=replace(plan.files[0].source, md5=None)),))
    with pytest.raises(FetchError, match="sha256 .* expected " + record["files"][0]["sha256"]):
        fetch_dataset(plan, tmp_path / "data", say=quiet)
    assert not (tmp_path / "data/tiny-imagenet-200").exists()


def test_a_copy_already_in_place_is_kept_and_nothing_is_downloaded(server, tmp_path):
    handler, base = server
    bodies, _ = mnist_bodies()
    (tmp_path / "data/mnist").mkdir(parents=True)
    record = fetch_dataset(served(planned("mnist"), bodies, handler, base), tmp_path / "data", say=quiet)
    assert record["how"] == "in place" and handler.log == []


def test_an_archive_that_makes_the_wrong_folder_leaves_nothing_in_place(server, tmp_path):
    handler, base = server
    body = tar_of({"CUB_200_2011_v2/images.txt": b"1 a.jpg\n"})
    plan = served(planned("cub200"), {"CUB_200_2011.tgz": body}, handler, base)
    with pytest.raises(FetchError, match="did not make CUB_200_2011/ .*CUB_200_2011_v2"):
        fetch_dataset(plan, tmp_path / "data", say=quiet)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["downloads"]


def test_an_account_only_dataset_says_where_to_get_it_then_unpacks_it_from_there(tmp_path):
    plan = planned("imagenet_dogs")
    assert plan.account_only and "image-net.org" in plan.account_only
    with pytest.raises(FetchError, match=r"never downloaded .*image-net\.org.* put it there"):
        fetch_dataset(plan, tmp_path / "data", say=quiet)
    downloads = tmp_path / "data/downloads/imagenet_dogs"
    files = []
    for entry in plan.files:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"{entry.source.name}.npz", b"npz")
        (downloads / entry.source.name).write_bytes(buffer.getvalue())
        files.append(replace(entry, source=replace(entry.source, size=len(buffer.getvalue()),
                                                   sha256=hashlib.sha256(buffer.getvalue()).hexdigest(), md5=None)))
    record = fetch_dataset(replace(plan, files=tuple(files)), tmp_path / "data", say=quiet)
    assert record["how"] == "account-only archives unpacked" and (tmp_path / "data/imagenet64").is_dir()
    assert read_record(downloads) == record


def test_the_command_line_names_the_file_what_was_expected_and_what_came(server, tmp_path):
    """`python -m methods fetch-data mnist` against a mirror serving other bytes than MNIST's: one line, exit 1,
    nothing laid out, the bad file kept aside."""
    handler, base = server
    bodies, _ = mnist_bodies()
    for name, body in bodies.items():
        handler.files[f"/mnist/{name}"] = body
    config = tmp_path / "config"   # the publisher's URLs swapped for a dead loopback path: no test reaches the internet
    shutil.copytree(PROJECT_ROOT / "config", config)
    text = (config / "datasets.yaml").read_text()
    for public in ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"):
        assert public in text
        text = text.replace(public, f"{base}/gone/")
    (config / "datasets.yaml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "FOCUSNET_DATA_MIRROR": base,
           "FOCUSNET_CONFIG_DIR": str(config)}
    result = subprocess.run([sys.executable, "-m", "methods", "fetch-data", "mnist", "--data-root",
                             str(tmp_path / "data")], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: "), result.stderr
    assert "train-images-idx3-ubyte.gz" in error[0] and "size" in error[0] and "expected 9912422" in error[0], error
    assert "HTTP 404" in error[0] and "mirror" in error[0], error   # the publisher's URL tried next, and the fix
    assert not (tmp_path / "data/mnist").exists()
    assert list((tmp_path / "data/downloads/mnist").glob("train-images-idx3-ubyte.gz.mismatch-*"))


@pytest.mark.slow
def test_the_dag_fetches_a_dataset_before_its_check_once_and_then_has_nothing_to_do(server, tmp_path):
    """`snakemake results/paper/data/mnist.json` on a machine without MNIST: the local fetch_data job downloads it
    (fabricated files on loopback, config/datasets.yaml's entry pointed there and sized for them), check_data reads
    the fetched layout through the real loader, and a second invocation fetches nothing."""
    handler, base = server
    bodies, _ = mnist_bodies()
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    text = (config / "datasets.yaml").read_text()
    for entry in planned("mnist").files:
        body = bodies[entry.source.name]
        handler.files[f"/mnist/{entry.source.name}"] = body
        for field, value in (("size", str(entry.source.size)), ("md5", entry.source.md5),
                             ("sha256", entry.source.sha256)):
            new = {"size": str(len(body)), "md5": hashlib.md5(body).hexdigest(),
                   "sha256": hashlib.sha256(body).hexdigest()}[field]
            text = text.replace(f"{field}: {value}", f"{field}: {new}", 1)
    for public in ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"):
        text = text.replace(public, f"{base}/mnist/")
    text = text.replace("  num_classes: 10          # paper Table 1\n  train_size: 60000        # paper Table 1\n"
                        "  val_size: 10000          # paper Table 1",
                        "  num_classes: 3\n  train_size: 6\n  val_size: 3", 1)
    (config / "datasets.yaml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "FOCUSNET_CONFIG_DIR": str(config), "OMP_NUM_THREADS": "1"}
    env.pop("FOCUSNET_DATA_MIRROR", None)
    command = [sys.executable, "-m", "snakemake", "-s", str(PROJECT_ROOT / "Snakefile"), "-d", str(tmp_path / "work"),
               "--cores", "1", "--config", f"data_root={tmp_path / 'data'}", "--", "results/paper/data/mnist.json"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "localrule fetch_data:" in first.stdout + first.stderr
    record = json.loads((tmp_path / "work/results/fetched/mnist.json").read_text())
    assert record["how"] == "fetched" and all(f["matched"] == ["size", "sha256", "md5"] for f in record["files"])
    stamp = json.loads((tmp_path / "work/results/paper/data/mnist.json").read_text())
    assert stamp["train"]["samples"] == 6 and stamp["val"]["samples"] == 3 and stamp["source"] == "real"
    assert stamp["fetched"]["how"] == "fetched"
    from methods.report.table1 import table1_frame
    row = table1_frame("paper", tmp_path / "work").set_index("key").loc["mnist"]
    assert row["files"].endswith("every archive matched its published checksum"), row["files"]
    requests = len(handler.log)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stderr[-3000:]
    assert len(handler.log) == requests


def imagenet_archives(folder: Path) -> dict[str, bytes]:
    """A 2-class ILSVRC2012 in miniature: the train tar of class tars, the flat val tar, and a devkit whose meta.mat
    maps ILSVRC2012_IDs to WNIDs (a non-leaf synset among them, which the sort must skip) and whose ground truth
    labels the val images by ID, in file-name order."""
    from scipy.io import savemat
    wnids = ["n01440764", "n01443537"]
    jpeg = {}
    for label, wnid in enumerate(wnids):
        path = folder / f"{wnid}.JPEG"
        write_image(path, (100 * label + 20, 50, 50))
        jpeg[wnid] = path.read_bytes()
    train = tar_of({f"{wnid}.tar": tar_of({f"{wnid}_{k}.JPEG": jpeg[wnid] for k in range(2)}) for wnid in wnids})
    val_labels = [2, 1, 1, 2]   # ILSVRC2012_IDs of val images 1..4
    val = tar_of({f"ILSVRC2012_val_{i:08d}.JPEG": jpeg[wnids[label - 1]] for i, label in enumerate(val_labels, 1)})
    synsets = np.array([(1, wnids[0], "tench", "", 0), (2, wnids[1], "goldfish", "", 0), (3, "n00000001", "fish", "", 2)],
                       dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"),
                              ("num_children", "O")])
    meta = io.BytesIO()
    savemat(meta, {"synsets": synsets})
    devkit = io.BytesIO()
    with tarfile.open(fileobj=devkit, mode="w:gz") as archive:
        for name, data in (("ILSVRC2012_devkit_t12/data/meta.mat", meta.getvalue()),
                           ("ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt",
                            "".join(f"{label}\n" for label in val_labels).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return {"ILSVRC2012_img_train.tar": train, "ILSVRC2012_img_val.tar": val,
            "ILSVRC2012_devkit_t12.tar.gz": devkit.getvalue()}


def test_imagenet_is_unpacked_from_where_the_user_put_it_into_class_folders_its_reader_reads(tmp_path):
    """fetch-data imagenet: never downloaded; the train tar's class tars become train/<wnid>/, the val images are
    sorted into val/<wnid>/ by the devkit's labels, and the image-folder reader reads both."""
    plan = planned("imagenet")
    with pytest.raises(FetchError, match="never downloaded .*ILSVRC2012_img_train.tar.*image-net.org"):
        fetch_dataset(plan, tmp_path / "data", say=quiet)
    downloads = tmp_path / "data/downloads/imagenet"
    bodies = imagenet_archives(tmp_path)
    files = []
    for entry in plan.files:
        body = bodies[entry.source.name]
        (downloads / entry.source.name).write_bytes(body)
        files.append(replace(entry, source=replace(entry.source, size=len(body), md5=hashlib.md5(body).hexdigest(),
                                                   sha256=hashlib.sha256(body).hexdigest())))
    fetch_dataset(replace(plan, files=tuple(files)), tmp_path / "data", say=quiet)
    root = tmp_path / "data/imagenet"
    assert sorted(p.name for p in (root / "val/n01443537").iterdir()) == ["ILSVRC2012_val_00000001.JPEG",
                                                                         "ILSVRC2012_val_00000004.JPEG"]
    assert sorted(p.name for p in (root / "train/n01440764").iterdir()) == ["n01440764_0.JPEG", "n01440764_1.JPEG"]
    facts = get_facts("imagenet").replace(num_classes=2, train_size=4, val_size=4)
    train, val = load_splits(facts, "real", tmp_path / "data")
    assert sorted(train.labels.tolist()) == [0, 0, 1, 1] and sorted(val.labels.tolist()) == [0, 0, 1, 1]


def test_two_fetches_of_one_dataset_at_once_download_it_once_and_both_get_it(server, tmp_path):
    import threading
    handler, base = server
    bodies, _ = mnist_bodies()
    plan = served(planned("mnist"), bodies, handler, base)
    records, said = [], []
    threads = [threading.Thread(target=lambda: records.append(fetch_dataset(plan, tmp_path / "data",
                                                                            say=said.append)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(records) == 2 and records[0]["files"] == records[1]["files"]
    assert sorted(path for path, _ in handler.log) == sorted(f"/mnist/{name}" for name in bodies)   # each once


def test_too_little_space_to_unpack_is_one_line_and_nothing_is_laid_out(server, tmp_path, monkeypatch):
    from methods.data import fetch_dataset as module
    handler, base = server
    bodies, _ = mnist_bodies()
    plan = served(planned("mnist"), bodies, handler, base)
    monkeypatch.setattr(module, "free_bytes", lambda _folder: 1000)
    with pytest.raises(FetchError, match=r"GB needed in .* to unpack it, 0\.00 GB free; free some space"):
        fetch_dataset(plan, tmp_path / "data", say=quiet)
    assert not (tmp_path / "data/mnist").exists()
