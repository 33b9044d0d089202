"""Why FocusNet collapses at the paper's recipe on MNIST / LeNet-5: the first steps, measured.

Trains each variant (a run name of the suite, e.g. `focusnet-detach_d=true`) for the first `--steps` steps of
the paper protocol (SGD lr 0.1, momentum 0.9, wd 1e-4, batch 128, the suite's data order for the seed) against a
finished Baseline's model.pt, and records every `--every` steps: the gradient norm of each loss term w.r.t. the
logits and w.r.t. the parameters, the logits' scale, the fraction of dead ReLU units (units that output 0 for
every sample of the batch), and the batch's training accuracy; at the end, top-1 on the validation split.
`--lr-scale` variants multiply the lr (e.g. a Baseline at 2x the lr), `--warmup` variants ramp it linearly over
that many steps. Writes <out>.json (every record) and <out>.md (the summary table the findings quote).

    python benchmarks/focusnet_collapse.py --reference-root /path/with/results --out benchmarks/focusnet-collapse
    # a BatchNorm network: ResNet-18 on the demo's digits at lr 0.1, its reference a Baseline trained here first
    python benchmarks/focusnet_collapse.py --dataset digits --arch resnet18 --reference-epochs 15 ...
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from methods.plan import config
from methods.data import load_splits, make_batches
from methods.engine.evaluate import evaluate
from methods.engine.trainer import load_reference
from methods.method import default_options
from methods.models import build_model
from methods.zoo import get_method_class
from methods.plan.protocol import dataset_facts, resolve
from methods.plan.spec import RunSpec, parse_run_name

# (label, run name, lr multiplier, warm-up epochs)
VARIANTS = [
    ("Baseline", "baseline", 1.0, 0),
    ("Baseline, 2x lr", "baseline", 2.0, 0),
    ("Baseline, 3x lr", "baseline", 3.0, 0),
    ("FocusNet (paper form)", "focusnet", 1.0, 0),
    ("FocusNet (released-code form)", "focusnet-label_smoothing=0.1,warm=softmax", 1.0, 0),
    ("FocusNet detach_d", "focusnet-detach_d=true", 1.0, 0),
    ("FocusNet L_cls only", "focusnet-terms=cls", 1.0, 0),
    ("FocusNet L_cls + R_ent", "focusnet-terms=cls+ent", 1.0, 0),
    ("FocusNet L_cls + R_att", "focusnet-terms=att+cls", 1.0, 0),
    ("FocusNet detach_d, L_cls only", "focusnet-detach_d=true,terms=cls", 1.0, 0),
    ("FocusNet (paper form), 0.5x lr", "focusnet", 0.5, 0),
    ("FocusNet (paper form), 1-epoch warm-up", "focusnet", 1.0, 1),
]


def relu_probe(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Forward hooks that keep, per ReLU, whether each unit was active for any sample of the last batch."""
    alive: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ReLU):
            def hook(_module, _inputs, output, name=name):
                alive[name] = (output.detach() > 0).flatten(2).any(-1).any(0) if output.dim() > 2 \
                    else (output.detach() > 0).any(0)
            module.register_forward_hook(hook)
    return alive


def grad_norm(tensors) -> float:
    return float(torch.sqrt(sum((t.detach().double() ** 2).sum() for t in tensors if t is not None)))


def run_variant(label, run_name, lr_scale, warmup, seed, reference, facts, train_split, val_split, args):
    torch.manual_seed(seed)
    run = parse_run_name(run_name)
    method_cls = get_method_class(run.method)
    options = default_options(run.method, dict(run.options))
    model = build_model(args.arch, facts.num_classes, family=facts.arch_family, in_channels=facts.channels)
    method = method_cls(model, facts.num_classes, options, reference if method_cls.needs_reference else None)
    alive = relu_probe(model)
    opt = config.preset("paper")["optimizer"]
    base_lr = opt["lr"] * lr_scale
    optimizer = torch.optim.SGD(model.parameters(), lr=base_lr, momentum=opt["momentum"],
                                weight_decay=opt["weight_decay"])
    params = [p for p in model.parameters() if p.requires_grad]
    records = []
    steps_per_epoch = len(make_batches(train_split, facts, train=True, batch_size=facts.batch_size, device="cpu",
                                       seed=seed, epoch=1))
    warmup *= steps_per_epoch
    method.train()
    step = 0
    done = False
    for epoch in range(1, 100):
        batches = make_batches(train_split, facts, train=True, batch_size=facts.batch_size, device="cpu",
                               seed=seed, epoch=epoch)
        for images, targets in batches:
            step += 1
            lr = base_lr * min(1.0, step / warmup) if warmup else base_lr
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits, terms = method.forward_train(images, targets)
            logits.retain_grad()
            loss = sum(terms.values())
            if step == 1 or step % args.every == 0:
                record = {"step": step, "lr": lr, "loss": loss.item(),
                          "logit_abs_mean": float(logits.detach().abs().mean()),
                          "logit_std_over_classes": float(logits.detach().std(dim=1).mean()),
                          "batch_top1": float((logits.argmax(1) == targets).float().mean() * 100),
                          "dead_relu": {name: float(1 - a.float().mean()) for name, a in alive.items()}}
                for term, value in terms.items():
                    grads = torch.autograd.grad(value, [logits, *params], retain_graph=True, allow_unused=True)
                    record[f"grad_logits_{term}"] = grad_norm(grads[:1]) * len(targets) ** 0.5   # rms per-sample norm
                    record[f"grad_params_{term}"] = grad_norm(grads[1:])
                records.append(record)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            record_total = grad_norm(p.grad for p in params) if (step == 1 or step % args.every == 0) else None
            if record_total is not None:
                records[-1]["grad_params_total"] = record_total
            optimizer.step()
            if step >= args.steps:
                done = True
                break
        if done:
            break
    method.eval()
    val = evaluate(method, make_batches(val_split, facts, train=False, batch_size=500, device="cpu", seed=seed,
                                        epoch=0))
    return {"label": label, "run": run_name, "lr_scale": lr_scale, "warmup_steps": warmup, "seed": seed,
            "val_top1": val["top1"], "records": records}


def trained_reference(args, facts, train_split) -> torch.nn.Module:
    """A Baseline of args.arch trained for args.reference_epochs at a constant args.reference_lr (seed 0)."""
    torch.manual_seed(0)
    model = build_model(args.arch, facts.num_classes, family=facts.arch_family, in_channels=facts.channels)
    opt = config.preset("paper")["optimizer"]
    optimizer = torch.optim.SGD(model.parameters(), lr=args.reference_lr, momentum=opt["momentum"],
                                weight_decay=opt["weight_decay"])
    model.train()
    for epoch in range(1, args.reference_epochs + 1):
        for images, targets in make_batches(train_split, facts, train=True, batch_size=facts.batch_size,
                                            device="cpu", seed=0, epoch=epoch):
            loss = F.cross_entropy(model(images), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def summary_rows(results: list[dict]) -> list[str]:
    """One row per variant, means over seeds: the first step's gradients, how many ReLU units of the narrowest
    layers died early, and whether the run trains."""
    rows = []
    for label in dict.fromkeys(r["label"] for r in results):
        runs = [r for r in results if r["label"] == label]

        def first(key):
            values = [r["records"][0][key] for r in runs if key in r["records"][0]]
            return statistics.fmean(values) if values else float("nan")

        def worst_dead(up_to: int) -> float:   # the largest fraction of dead units of any layer, by step up_to
            return statistics.fmean(max(max(rec["dead_relu"].values()) for rec in r["records"] if rec["step"] <= up_to)
                                    for r in runs)

        terms = [k for k in runs[0]["records"][0] if k.startswith("grad_logits_")]
        grads = ", ".join(f"{k.removeprefix('grad_logits_')} {first(k):.2f}" for k in terms)
        vals = " / ".join(f"{r['val_top1']:.1f}" for r in runs)
        collapsed = sum(r["val_top1"] < 20 for r in runs)
        rows.append(f"| {label} | `{runs[0]['run']}` | {grads} | {first('grad_params_total'):.2f} | "
                    f"{worst_dead(50):.2f} | {worst_dead(10 ** 9):.2f} | {vals} | {collapsed}/{len(runs)} |")
    return rows


def write_summary(out: Path, command: str, steps: int, results: list[dict]) -> None:
    header = ["| variant | run name | step 1: rms per-sample gradient w.r.t. the logits, by term | step 1: "
              "parameter gradient norm | dead ReLU units by step 50 (worst layer) | dead by the last step | "
              f"val top-1 after {steps} steps, per seed | collapsed (< 20 %) |", "|---" * 8 + "|"]
    out.with_suffix(".md").write_text("\n".join([f"Command: `{command}`", "", *header, *summary_rows(results)]) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-root", default=".", help="folder holding results/paper/<dataset>/<arch>/baseline")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--arch", default="lenet5")
    parser.add_argument("--reference-epochs", type=int, default=0,
                        help="train the reference Baseline here for this many epochs instead of loading one")
    parser.add_argument("--reference-lr", type=float, default=0.02, help="its constant lr (the demo's)")
    parser.add_argument("--reference-seed", type=int, default=0)
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=469, help="training steps per variant (469 = one epoch)")
    parser.add_argument("--every", type=int, default=10, help="record every this many steps")
    parser.add_argument("--only", default=None, help="semicolon-separated variant labels to run (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/focusnet-collapse")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="rewrite <out>.md from an earlier run's <out>.json (its command kept), training nothing")
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        write_summary(Path(args.out), saved["meta"]["command"], saved["meta"]["steps"], saved["results"])
        return 0
    torch.set_num_threads(args.threads)
    preset = "paper" if args.dataset != "digits" else "demo"
    facts = dataset_facts(preset, args.dataset)
    train_split, val_split = load_splits(facts, config.preset(preset)["data_source"], Path(args.data_root))
    if args.reference_epochs:
        reference, reference_name = trained_reference(args, facts, train_split), \
            f"a {args.arch} Baseline trained here for {args.reference_epochs} epochs at lr {args.reference_lr}"
    else:
        reference_spec = RunSpec.from_parts("paper", args.dataset, args.arch, "baseline", args.reference_seed)
        reference, reference_name = load_reference(resolve(reference_spec), Path(args.reference_root)), \
            str(reference_spec.directory)
    variants = [v for v in VARIANTS if args.only is None or v[0] in args.only.split(";")]
    results, tic = [], time.time()
    for label, run_name, lr_scale, warmup in variants:
        for seed in (int(s) for s in args.seeds.split(",")):
            result = run_variant(label, run_name, lr_scale, warmup, seed, reference, facts, train_split,
                                 val_split, args)
            print(f"{label:42s} seed {seed}: val top-1 {result['val_top1']:.2f} ({time.time() - tic:.0f}s)",
                  flush=True)
            results.append(result)
    command = "python benchmarks/focusnet_collapse.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {"command": command, "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "torch": torch.__version__, "threads": args.threads, "reference": reference_name,
            "steps": args.steps}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    write_summary(out, command, args.steps, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
