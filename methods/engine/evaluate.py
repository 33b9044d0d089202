"""Top-k accuracy of a method's test-time forward over a batch stream."""
from __future__ import annotations

import torch


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...]) -> list[int]:
    top = logits.topk(max(ks), dim=1).indices
    hits = top.eq(targets[:, None])
    return [int(hits[:, :k].any(dim=1).sum()) for k in ks]


@torch.inference_mode()
def evaluate(method, batches, *, max_batches: int | None = None) -> dict[str, float]:
    method.eval()
    ks = (1, min(5, method.num_classes))
    correct, seen = [0, 0], 0
    for step, (images, targets) in enumerate(batches):
        if max_batches is not None and step >= max_batches:
            break
        hits = topk_correct(method.forward_test(images), targets, ks)
        correct = [c + h for c, h in zip(correct, hits)]
        seen += len(targets)
    return {"top1": 100.0 * correct[0] / seen, "top5": 100.0 * correct[1] / seen, "n": seen}
