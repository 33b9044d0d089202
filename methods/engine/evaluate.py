"""Top-k accuracy of a method's test-time forward over a batch stream."""
from __future__ import annotations

import torch

from methods.engine.distributed import Solo
from methods.engine.switches import EngineOptions


@torch.inference_mode()
def evaluate(method, batches, *, max_batches: int | None = None, engine: EngineOptions = EngineOptions(),
             team: Solo = Solo()) -> dict[str, float]:
    """Counts stay on the device until the end (no host synchronisation per batch). With several processes (`team`)
    each scores its share of the samples and the hit counts are summed."""
    method.eval()
    ks = (1, min(5, method.num_classes))
    correct, seen = None, 0
    for step, (images, targets) in enumerate(batches):
        if max_batches is not None and step >= max_batches:
            break
        with engine.autocast(targets.device):
            logits = method.forward_test(engine.prepare_images(images))
        hits = topk_hits(logits, targets, ks)
        correct = hits if correct is None else correct + hits
        seen += len(targets)
    top1, top5, seen = team.total_hits(correct, seen)
    return {"top1": 100.0 * top1 / seen, "top5": 100.0 * top5 / seen, "n": seen}


def topk_hits(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...]) -> torch.Tensor:
    """Number of samples whose target is among the top-k logits, for each k, as a tensor on the device."""
    top = logits.topk(max(ks), dim=1).indices
    hits = top.eq(targets[:, None])
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])
