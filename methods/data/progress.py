"""Progress lines for long one-off steps (decoding a dataset into the cache or the image store)."""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_with_progress(function: Callable[[T], R], items: Iterable[T], what: str, *,
                      every_s: float = 30.0, stream=None) -> list[R]:
    """function over items on a thread pool (PIL releases the GIL while decoding), in order, saying what it does
    when it starts, every `every_s` seconds (done / total, rate, time left) and when it ends."""
    items = list(items)
    stream = stream or sys.stdout
    total, started = len(items), time.time()
    print(f"{what}: {total} items, once (later runs read the result)", file=stream, flush=True)
    results, last = [], started
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        for done, result in enumerate(pool.map(function, items), start=1):
            results.append(result)
            now = time.time()
            if now - last >= every_s and done < total:
                rate = done / (now - started)
                print(f"{what}: {done}/{total} ({100 * done / total:.0f} %), {rate:.0f}/s, "
                      f"about {(total - done) / rate:.0f} s left", file=stream, flush=True)
                last = now
    print(f"{what}: done, {total} in {time.time() - started:.0f} s", file=stream, flush=True)
    return results
