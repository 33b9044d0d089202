"""Atomic files: a half-written checkpoint or metrics file never replaces a good one; a full disk is named as such."""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path


class DiskFullError(OSError):
    pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """write(tmp) then rename over `path`: readers see the old file or the new one, never half of one. The file
    gets the process umask's permissions (mkstemp's 0600 would hide results from a group sharing them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:   # torch.save reports a full disk as a RuntimeError of its own words
        if disk_full(error, path.parent):
            raise DiskFullError(errno.ENOSPC, f"no space left on {path.parent} while writing {path.name}; free "
                                "space and rerun: the run resumes from its last checkpoint, nothing is lost") from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


FULL = 1 << 20   # a file system with less free space than this after a failed write is taken to be full


def disk_full(error: BaseException, folder: Path) -> bool:
    """Whether a failed write failed for want of space: by its errno, or (torch.save and other libraries word it
    their own way: 'unexpected pos', 'write failed') by the space left where it wrote."""
    if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:
        return shutil.disk_usage(folder).free < FULL
    except OSError:
        return False


def save_json(obj, path: Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))
