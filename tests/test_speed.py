"""The engine's speed switches (bf16 autocast, channels_last, compile) and its sync-free epoch loop."""
from types import SimpleNamespace

import pytest
import torch

from methods.plan import config
from methods.engine.switches import EngineOptions
from methods.engine.epoch import RunError, train_epoch
from methods.plan.runtime import Runtime
from methods.method import Method
from methods.models import build_model
from methods.plan.protocol import resolve
from methods.plan.spec import RunSpec
from methods.zoo.baseline import Baseline

LABEL = SimpleNamespace(directory="test/run")


def batches(n=3, size=8, channels=1, classes=10):
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(size, channels, 28, 28, generator=generator),
             torch.randint(0, classes, (size,), generator=generator)) for _ in range(n)]


def lenet_baseline():
    torch.manual_seed(0)
    return Baseline(build_model("lenet5", 10, family="small", in_channels=1), 10, Baseline.Options())


def run_epoch(method, engine, data):
    optimizer = torch.optim.SGD(method.parameters(), lr=0.05, momentum=0.9)
    engine.prepare_model(method)
    return train_epoch(LABEL, method, optimizer, data, None, Runtime(), engine)


def test_default_engine_leaves_the_protocol_as_it_was():
    spec = RunSpec.from_parts("smoke", "mnist", "lenet5", "baseline", 0)
    assert "engine" not in resolve(spec).record
    assert EngineOptions.from_config(None).protocol_entry() is None


def test_switches_on_are_part_of_the_protocol(monkeypatch):
    spec = RunSpec.from_parts("smoke", "mnist", "lenet5", "baseline", 0)
    plain = resolve(spec)
    smoke = {**config.preset("smoke"), "engine": {"amp": "bf16", "channels_last": True}}
    monkeypatch.setattr(config, "preset", lambda name: smoke if name == "smoke" else config.presets()[name])
    fast = resolve(spec)
    assert fast.record["engine"] == {"amp": "bf16", "channels_last": True, "compile": False, "image_store": 0}
    assert fast.hash != plain.hash


def test_unknown_amp_mode_is_refused():
    with pytest.raises(ValueError, match="none.*bf16"):
        EngineOptions.from_config({"amp": "fp16"})
    with pytest.raises(TypeError):
        EngineOptions.from_config({"amp": "bf16", "fast": True})


def test_epoch_statistics_equal_a_step_by_step_host_computation():
    data = batches()
    stats = run_epoch(lenet_baseline(), EngineOptions(), data)
    # the same epoch by hand, reading every loss on the host as a plain loop would
    method = lenet_baseline()
    optimizer = torch.optim.SGD(method.parameters(), lr=0.05, momentum=0.9)
    losses, correct = [], 0
    for images, targets in data:
        logits, terms = method.forward_train(images, targets)
        loss = sum(terms.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        correct += int((logits.argmax(1) == targets).sum())
    assert stats["train_loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-5)
    assert stats["train_ce"] == pytest.approx(stats["train_loss"])
    assert stats["train_top1"] == pytest.approx(100.0 * correct / 24)


def test_bf16_channels_last_trains_close_to_fp32():
    data = batches()
    reference = run_epoch(lenet_baseline(), EngineOptions(), data)
    method = lenet_baseline()
    fast = run_epoch(method, EngineOptions(amp="bf16", channels_last=True), data)
    assert method.model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert fast["train_loss"] != reference["train_loss"]          # bf16 rounding did happen
    assert fast["train_loss"] == pytest.approx(reference["train_loss"], rel=0.05)
    with EngineOptions(amp="bf16").autocast(torch.device("cpu")):
        assert method.model(data[0][0]).dtype == torch.bfloat16


def test_non_finite_loss_stops_the_run_naming_its_terms():
    class Diverging(Method):
        def forward_train(self, images, targets):
            logits = self.model(images)
            return logits, {"ce": torch.nn.functional.cross_entropy(logits, targets),
                            "bad": logits.sum() * float("nan")}

    method = Diverging(build_model("lenet5", 10, family="small", in_channels=1), 10, None)
    with pytest.raises(RunError, match="not finite.*train_bad"):
        run_epoch(method, EngineOptions(), batches())


def test_image_store_switch_trains_a_224px_dataset_from_the_store(tmp_path, monkeypatch):
    from methods.engine.trainer import train_run
    smoke = {**config.preset("smoke"), "engine": {"image_store": 512}}
    monkeypatch.setattr(config, "preset", lambda name: smoke if name == "smoke" else config.presets()[name])
    spec = RunSpec.from_parts("smoke", "cub200", "resnet18", "baseline", 0)
    metrics = train_run(resolve(spec), Runtime(num_workers=0, threads=1), root=tmp_path)
    assert metrics["protocol"]["engine"]["image_store"] == 512
    assert 0 <= metrics["final"]["top1"] <= 100
