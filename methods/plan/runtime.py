"""How a job runs, beside what it runs (its protocol): where the data lie, workers, threads, GPU slots. None of it
changes a run's result, so none of it is part of the protocol. Their defaults have one home, config/config.yaml,
which the Snakemake rules and `python -m methods` both read (runtime_of); a command-line flag or --config overrides
one value."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Runtime:
    """Settings that do not change a run's result (so they are not part of its protocol)."""
    data_root: Path = Path("data")
    cache_dir: Path | None = None
    num_workers: int = 0                    # the code's own default; a job's comes from config/config.yaml
    threads: int | None = None
    progress_every_s: float = 60.0
    snapshot_epochs: tuple[int, ...] = ()   # save the deployed network at these epochs (for derived runs)
    gpu_slots: int | None = None            # slots of one GPU this job holds (None: a whole GPU)
    slots_per_gpu: int = 1                  # how many slots a GPU is divided into (methods.engine.device)
    stop_after_epoch: int | None = None     # stop (checkpoint kept, no metrics) after this epoch: `verify` reruns


def runtime_of(settings: dict, threads: int | None = None, gpu_slots: int | None = None, **given) -> Runtime:
    """The Runtime of a job from config/config.yaml's settings (or Snakemake's config, which is that file with the
    command line's --config applied), with the values a caller gives (None: not given) over them."""
    runtime = Runtime(data_root=Path(settings["data_root"]),
                      cache_dir=Path(settings["cache_dir"]) if settings.get("cache_dir") else None,
                      num_workers=int(settings["num_workers"]), threads=threads, gpu_slots=gpu_slots or None,
                      slots_per_gpu=int(settings["gpu_slots"]))
    chosen = {key: Path(value) if key in ("data_root", "cache_dir") else value
              for key, value in given.items() if value is not None}
    return replace(runtime, **chosen)


def configured(**given) -> Runtime:
    """The Runtime config/config.yaml gives, with the command line's values over it (python -m methods)."""
    from methods.plan import config   # config reads the YAML files; imported where a command asks for it
    return runtime_of(config.load("config"), **given)
