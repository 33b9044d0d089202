"""A dataset fetched into the layout its reader expects: its files (config/datasets.yaml `fetch`) downloaded and
verified one by one (methods.data.fetch), then unpacked together into a scratch folder beside the data and renamed
into place in one step, so a reader never sees half a dataset. A record of what was fetched, from where, and which
published checksums it matched is written beside the downloads (`<downloads>/fetched.json`): the next fetch checks
its files against what this one measured where no checksum is published. Account-only datasets are never
downloaded: their archives are verified and unpacked from where the user put them. Stdlib only (no torch)."""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import methods
from methods.data.fetch import (FetchError, Fetched, Source, extract_into, fetch, free_bytes, locked,
                                 verify_in_place)

MIRROR_VARIABLE = "FOCUSNET_DATA_MIRROR"


@dataclass(frozen=True)
class FileEntry:
    source: Source
    unpack_into: str        # the folder under data_root that the archive unpacks into (or the file is placed in)
    unpack: str = "archive"   # archive | copy | imagenet_train | imagenet_val | devkit (see _place)


@dataclass(frozen=True)
class DatasetFetch:
    dataset: str
    root_dir: str           # the folder under data_root that the reader reads (config/datasets.yaml root_dir)
    files: tuple[FileEntry, ...]
    account_only: str | None = None   # where to get the files by hand; None: public downloads
    note: str | None = None


def fetch_plan(dataset: str, entry: dict, root_dir: str | None) -> DatasetFetch:
    """The `fetch` entry of config/datasets.yaml as a plan; `{project}` in a URL is the project's folder."""
    if not entry or not root_dir:
        raise FetchError(f"{dataset}: config/datasets.yaml gives no `fetch` entry for it, so there is nothing to "
                         "fetch; it needs no files, or they are put in place by hand (docs/datasets.md)")
    files = tuple(FileEntry(Source(item["name"], tuple(url.replace("{project}", str(methods.PROJECT_ROOT))
                                                       for url in item.get("urls", ())),
                                   item.get("size"), item.get("sha256"), item.get("md5")),
                            item["unpack_into"], item.get("unpack", "archive"))
                  for item in entry["files"])
    return DatasetFetch(dataset, root_dir, files, entry.get("account_only"), entry.get("note"))


def mirror_of(configured: str | None, environ=os.environ) -> str | None:
    """The mirror every fetch tries first: $FOCUSNET_DATA_MIRROR, else config/config.yaml `data_mirror`."""
    return environ.get(MIRROR_VARIABLE) or configured or None


def with_mirror(plan: DatasetFetch, mirror: str | None) -> DatasetFetch:
    """Each file tried first at `<mirror>/<dataset>/<file name>` (an http(s) or file URL, or a folder)."""
    if not mirror:
        return plan
    base = mirror if "://" in mirror else Path(mirror).resolve().as_uri()
    files = tuple(replace(entry, source=replace(entry.source, urls=(f"{base.rstrip('/')}/{plan.dataset}/"
                                                                    f"{entry.source.name}", *entry.source.urls)))
                  for entry in plan.files)
    return replace(plan, files=files)


def fetch_dataset(plan: DatasetFetch, data_root: Path, downloads: Path | None = None, say=print) -> dict:
    """Lay the dataset out under data_root (a copy already in place is kept as it is); its fetch record."""
    downloads = downloads or data_root / "downloads" / plan.dataset
    target = data_root / plan.root_dir
    if target.exists():   # renamed into place whole, so it is complete; touched nowhere (a read-only share too)
        return _in_place(plan, target, downloads, say)
    downloads.mkdir(parents=True, exist_ok=True)
    with locked(downloads / ".dataset.lock", say, plan.dataset):
        previous = read_record(downloads)
        if target.exists():   # another fetch laid it out while this one waited
            return _in_place(plan, target, downloads, say)
        fetched = [_obtain(entry.source, plan, downloads, previous, say) for entry in plan.files]
        _assemble(plan, fetched, data_root, target, say)
        record = {"dataset": plan.dataset, "root": str(target),
                  "how": "account-only archives unpacked" if plan.account_only else "fetched",
                  "when": _now(), "note": plan.note,
                  "files": [{"name": got.path.name, "url": got.url, "size": got.size, "sha256": got.sha256,
                             "md5": got.md5, "matched": got.checked} for got in fetched]}
        write_record(downloads, record)
        say(f"{plan.dataset}: laid out in {target} ({', '.join(_matched(got) for got in fetched)})")
        return record


def _in_place(plan: DatasetFetch, target: Path, downloads: Path, say) -> dict:
    previous = read_record(downloads)
    if previous and previous.get("root") == str(target):
        say(f"{plan.dataset}: already fetched into {target} ({previous['when']}); nothing to do")
        return previous
    say(f"{plan.dataset}: {target} is already there (not fetched by this suite): kept as it is; the data check "
        "verifies it")
    return {"dataset": plan.dataset, "root": str(target), "how": "in place", "files": [], "when": _now()}


def _obtain(source: Source, plan: DatasetFetch, downloads: Path, previous: dict | None, say) -> Fetched:
    source = _with_measured(source, previous)
    if plan.account_only:
        return _placed_by_hand(source, plan, downloads)
    local = [url for url in source.urls if _local_path(url) is not None]
    for url in local:
        path = _local_path(url)
        if path.exists():   # a local archive (a shared data folder): verified and unpacked where it is, not copied
            return verify_in_place(source, path)
    return fetch(replace(source, urls=tuple(url for url in source.urls if url not in local)), downloads, say=say)


def _placed_by_hand(source: Source, plan: DatasetFetch, downloads: Path) -> Fetched:
    path = downloads / source.name
    if not path.exists():
        raise FetchError(f"{plan.dataset}: {source.name} is not in {downloads}; it is never downloaded (it needs an "
                         f"account): {plan.account_only}; put it there (or point data_mirror at a folder holding "
                         f"{plan.dataset}/{source.name}) and run the fetch again")
    return verify_in_place(source, path)


def _with_measured(source: Source, previous: dict | None) -> Source:
    """Where no SHA-256 is published, the one the last fetch measured is what the file must be now."""
    if source.sha256 or not previous:
        return source
    measured = {item["name"]: item["sha256"] for item in previous.get("files", [])}
    return replace(source, sha256=measured.get(source.name))


def _local_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(url[len("file://"):])
    return Path(url) if "://" not in url else None


def _assemble(plan: DatasetFetch, fetched: list[Fetched], data_root: Path, target: Path, say) -> None:
    """Every file unpacked (or placed) into a scratch folder beside the data, then its root_dir renamed into place."""
    data_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".fetch-{plan.dataset}.", dir=data_root))
    try:
        _check_unpack_space(plan, fetched, data_root)
        by_kind = {entry.unpack: got.path for entry, got in zip(plan.files, fetched, strict=True)}
        for entry, got in zip(plan.files, fetched, strict=True):
            into = scratch / entry.unpack_into
            into.mkdir(parents=True, exist_ok=True)
            _place(entry, got.path, into, by_kind, say)
        built = scratch / plan.root_dir
        if not built.is_dir():
            raise FetchError(f"{plan.dataset}: its files did not make {plan.root_dir}/ (they made "
                             f"{', '.join(sorted(p.name for p in scratch.iterdir())) or 'nothing'}); its `fetch` "
                             "entry in config/datasets.yaml unpacks them into the wrong folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        built.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _place(entry: FileEntry, path: Path, into: Path, by_kind: dict[str, Path], say) -> None:
    """One file into the scratch layout: an archive unpacked, a file copied as it is; ILSVRC2012's train tar (one tar
    per class inside) unpacked into <wnid>/ folders, its val images sorted into <wnid>/ folders by the devkit's
    labels; the devkit itself only read."""
    if entry.unpack == "copy":
        shutil.copy2(path, into / entry.source.name)
    elif entry.unpack == "archive":
        say(f"{entry.source.name}: unpacking")
        extract_into(path, into)
    elif entry.unpack == "imagenet_train":
        say(f"{entry.source.name}: unpacking one tar per class")
        imagenet_train_into(path, into)
    elif entry.unpack == "imagenet_val":
        if "devkit" not in by_kind:
            raise FetchError(f"{entry.source.name}: sorting the val images needs the devkit; its `fetch` entry in "
                             "config/datasets.yaml lists no file with unpack: devkit")
        say(f"{entry.source.name}: sorting the images into class folders by the devkit's labels")
        imagenet_val_into(path, by_kind["devkit"], into)
    elif entry.unpack != "devkit":
        raise FetchError(f"{entry.source.name}: unknown unpack {entry.unpack!r} in config/datasets.yaml")


def imagenet_train_into(archive: Path, into: Path) -> None:
    """ILSVRC2012_img_train.tar: one `<wnid>.tar` per class, each unpacked into `<wnid>/`, streamed (the inner tars
    are never written out)."""
    with tarfile.open(archive) as outer:
        for member in outer:
            inner_name = PurePosixPath(member.name)
            if not member.isfile() or inner_name.suffix != ".tar" or len(inner_name.parts) != 1:
                raise FetchError(f"{archive.name}: member {member.name!r} is not a class tar (<wnid>.tar); this is "
                                 "not ILSVRC2012_img_train.tar")
            folder = into / inner_name.stem
            folder.mkdir()
            with tarfile.open(fileobj=outer.extractfile(member)) as inner:
                for image in inner:
                    _write_flat(inner, image, folder, f"{archive.name}/{member.name}")


def imagenet_val_into(archive: Path, devkit: Path, into: Path) -> None:
    """ILSVRC2012_img_val.tar's 50,000 images into `<wnid>/` folders: the devkit's ground truth gives each image's
    ILSVRC2012_ID (in file-name order), its meta.mat the ID's WNID (what torchvision's parse_devkit_archive reads)."""
    wnid_of_image = _val_labels(devkit)
    with tarfile.open(archive) as opened:
        for member in opened:
            name = PurePosixPath(member.name).name
            if name not in wnid_of_image:
                raise FetchError(f"{archive.name}: {member.name!r} has no label in {devkit.name}; are they of the "
                                 "same release (ILSVRC2012)?")
            folder = into / wnid_of_image[name]
            folder.mkdir(exist_ok=True)
            _write_flat(opened, member, folder, archive.name)


def _val_labels(devkit: Path) -> dict[str, str]:
    """val image file name -> WNID, from ILSVRC2012_devkit_t12.tar.gz."""
    from scipy.io import loadmat   # imported here: scipy is slow to import and only ImageNet's devkit needs it
    with tarfile.open(devkit) as opened:
        files = {PurePosixPath(m.name).name: m for m in opened if m.isfile()}
        missing = [n for n in ("meta.mat", "ILSVRC2012_validation_ground_truth.txt") if n not in files]
        if missing:
            raise FetchError(f"{devkit.name}: has no {', '.join(missing)}; this is not ILSVRC2012_devkit_t12")
        synsets = loadmat(io.BytesIO(opened.extractfile(files["meta.mat"]).read()), squeeze_me=True)["synsets"]
        truth = opened.extractfile(files["ILSVRC2012_validation_ground_truth.txt"]).read().decode().split()
    wnid_of_id = {int(row["ILSVRC2012_ID"]): str(row["WNID"]) for row in synsets if int(row["num_children"]) == 0}
    return {f"ILSVRC2012_val_{index:08d}.JPEG": wnid_of_id[int(label)] for index, label in enumerate(truth, 1)}


def _write_flat(opened: tarfile.TarFile, member: tarfile.TarInfo, folder: Path, where: str) -> None:
    """A regular file of a tar written into `folder` under its own name; anything else refused."""
    name = PurePosixPath(member.name).name
    if not member.isfile() or name in ("", ".", "..") or PurePosixPath(member.name).is_absolute() or \
            ".." in PurePosixPath(member.name).parts:
        raise FetchError(f"{where}: member {member.name!r} is not a plain image file inside its folder; refused")
    with opened.extractfile(member) as source, open(folder / name, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


def _check_unpack_space(plan: DatasetFetch, fetched: list[Fetched], data_root: Path) -> None:
    """What the archives unpack to (taken as their size: JPEGs do not compress) must fit beside the data."""
    needed = sum(got.size for entry, got in zip(plan.files, fetched) if entry.unpack not in ("devkit",))
    free = free_bytes(data_root)
    if free < needed:
        raise FetchError(f"{plan.dataset}: {needed / 1e9:.2f} GB needed in {data_root} to unpack it, "
                         f"{free / 1e9:.2f} GB free; free some space or point data_root at a larger disk")


def read_record(downloads: Path) -> dict | None:
    path = downloads / "fetched.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_record(downloads: Path, record: dict) -> None:
    part = downloads / "fetched.json.part"
    part.write_text(json.dumps(record, indent=2) + "\n")
    part.replace(downloads / "fetched.json")


def _matched(got: Fetched) -> str:
    return f"{got.path.name}: {' + '.join(got.checked) or 'no published checksum; sha256 measured'}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
