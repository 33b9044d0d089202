"""scikit-learn's bundled 8x8 handwritten digits: the offline demo dataset."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from methods.data.splits import TensorSplit

VAL_FRACTION = 0.25
SPLIT_SEED = 0


def digits_splits() -> tuple[TensorSplit, TensorSplit]:
    """Deterministic stratified 75/25 split of the 1,797 images: 1,347 train / 450 val, [N, 1, 8, 8] uint8."""
    digits = load_digits()
    images = np.rint(digits.images * 255 / 16).astype(np.uint8)[:, None]    # values 0..16 -> 0..255
    train, val = train_test_split(np.arange(len(images)), test_size=VAL_FRACTION, stratify=digits.target,
                                  random_state=SPLIT_SEED)
    return tuple(TensorSplit(torch.from_numpy(images[np.sort(part)]),
                             torch.from_numpy(digits.target[np.sort(part)].astype(np.int64)))
                 for part in (train, val))
