"""A dataset copy byte for byte: the data check records each file's size, SHA-256 and MD5, and Table 1 says whether
they match the published MD5s (config/datasets.yaml published_md5)."""
import hashlib

from methods.runs import checksums
from methods.runs.checksums import checksum_status, file_digests
from methods.plan.facts import get_facts, published_checksums
from methods.plan.protocol import resolve
from methods.plan.spec import RunSpec


def test_file_digests_hash_each_file_with_its_size(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.gz").write_bytes(b"abc")
    digests = file_digests(tmp_path)
    assert digests["hashed"] and digests["files"]["raw/a.gz"] == {
        "bytes": 3, "sha256": hashlib.sha256(b"abc").hexdigest(), "md5": "900150983cd24fb0d6963f7d28e17f72"}


def test_many_files_are_counted_not_hashed(tmp_path, monkeypatch):
    monkeypatch.setattr(checksums, "MAX_FILES", 2)
    for name in "xyz":
        (tmp_path / name).write_bytes(b"12")
    assert file_digests(tmp_path) == {"hashed": False, "files": 3, "bytes": 6}
    assert checksum_status(file_digests(tmp_path), {}) == "not hashed (3 files)"


def test_status_against_the_published_md5s(tmp_path):
    (tmp_path / "a.gz").write_bytes(b"abc")
    (tmp_path / "b.gz").write_bytes(b"def")
    digests = file_digests(tmp_path)
    good = {"a.gz": "900150983cd24fb0d6963f7d28e17f72", "b.gz": hashlib.md5(b"def").hexdigest(), "c.gz": "0" * 32}
    assert checksum_status(digests, good) == "matches the published MD5 (2 files)"
    assert checksum_status(digests, {**good, "b.gz": "1" * 32}) == "DIFFERS from the published MD5: b.gz"
    assert checksum_status(digests, {}) == "sha256 recorded (2 files); no published checksums"
    assert checksum_status(digests, {"other": "2" * 32}) == "no file of the published set found"
    assert checksum_status(None, good) == "—"


def test_published_md5s_are_config_data_and_never_part_of_a_protocol():
    assert published_checksums("mnist")["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert not hasattr(get_facts("mnist"), "published_md5")
    # the committed MNIST Baseline's protocol hash (results/paper/mnist/lenet5/baseline/seed0/metrics.json)
    assert resolve(RunSpec.from_parts("paper", "mnist", "lenet5", "baseline", 0)).hash == "61b43721bd2ee914"
