"""What a dataset copy is, byte for byte: its files' sizes and hashes, recorded by the data check and compared with
the published checksums (config/datasets.yaml `published_md5`) in Table 1. Torch-free."""
from __future__ import annotations

import hashlib
from pathlib import Path

MAX_FILES = 64   # a folder of many image files is counted, not hashed (archives and array files are hashed)


def file_digests(root: Path) -> dict:
    """{'hashed': True, 'files': {relative path: {bytes, sha256, md5}}} of every file under `root`, or a count
    ({'hashed': False, 'files': n, 'bytes': total}) where there are more than MAX_FILES."""
    files = sorted(path for path in root.rglob("*") if path.is_file())
    if len(files) > MAX_FILES:
        return {"hashed": False, "files": len(files), "bytes": sum(path.stat().st_size for path in files)}
    return {"hashed": True, "files": {str(path.relative_to(root)): _digest(path) for path in files}}


def _digest(path: Path) -> dict:
    return {"bytes": path.stat().st_size, **hash_file(path, "sha256", "md5")}


def hash_file(path: Path, *algorithms: str) -> dict[str, str]:
    """The file's digests by hashlib name (e.g. 'sha256', 'md5'), read once in 1 MiB blocks."""
    digests = {name: hashlib.new(name) for name in algorithms}
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            for digest in digests.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def checksum_status(digests: dict | None, published: dict[str, str]) -> str:
    """Table 1's words for a copy: whether its files match the published MD5s (by file name)."""
    if not digests:
        return "—"
    if not digests["hashed"]:
        return f"not hashed ({digests['files']:,} files)"
    by_name = {Path(name).name: record["md5"] for name, record in digests["files"].items()}
    compared = {name: md5 for name, md5 in by_name.items() if name in published}
    if not published:
        return f"sha256 recorded ({len(by_name)} files); no published checksums"
    if not compared:
        return "no file of the published set found"
    differing = sorted(name for name, md5 in compared.items() if md5 != published[name])
    if differing:
        return "DIFFERS from the published MD5: " + ", ".join(differing)
    return f"matches the published MD5 ({len(compared)} files)"


def fetch_status(fetched: dict | None) -> str:
    """Table 1's words for how a copy was fetched: whether every file matched a published checksum."""
    if not fetched or fetched.get("how") == "in place":
        return ""
    unmatched = [item["name"] for item in fetched["files"] if not set(item["matched"]) & {"sha256", "md5"}]
    if unmatched:
        return f"; fetched {fetched['when'][:10]}, no published checksum for {', '.join(unmatched)} (sha256 recorded)"
    return f"; fetched {fetched['when'][:10]}, every archive matched its published checksum"
