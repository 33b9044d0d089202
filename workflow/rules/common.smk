import os
from functools import lru_cache, partial

from methods.plan.gpus import visible_gpus
from methods.plan import config as suite_config
from methods.plan.facts import fetch_entry
from methods.plan.grid import (RunPlan, build_table, donor_for, parse_seeds, preset_of_target, required_runs, table_names,
                               table_targets)
from methods.plan.layout import (COMPLEXITY_PATTERN, DATA_STAMP_PATTERN, FETCH_RECORD_PATTERN, RUN_DIR_PATTERN,
                                 complexity_path, stamp_path, table_target)
from methods.plan.protocol import LaunchShape, check_spec, launch_shape, resolve
from methods.plan.slurm import misfit, partition_limits, report_pending
from methods.plan.snakemake_session import Invocation
from methods.plan.spec import RunSpec, SpecError
from methods.report.comparison import preset_of_report, report_targets
from methods.report.table1 import paper_datasets, preset_of_table1, table1_presets, table1_target
from methods.runs.artifacts import RunArtifacts
from snakemake import __version__ as SNAKEMAKE_VERSION
from snakemake.exceptions import WorkflowError

INVOCATION = Invocation(workflow, SNAKEMAKE_VERSION)   # the one reader of how Snakemake was invoked

CONDA_ENV = os.path.join(workflow.basedir, "environment.yml")   # what --use-conda builds for every rule
# The paper's numbers and claims are data the tables read; a checkout writes them after the tables (file order), so
# their times say nothing: a table is rebuilt when its runs' metrics change, not when these are checked out.
PAPER_RESULTS = ancient(os.path.join(workflow.basedir, "tables/paper_results.csv"))
PAPER_CLAIMS = ancient(os.path.join(workflow.basedir, "tables/paper_claims.yaml"))

wildcard_constraints:
    preset="[a-z0-9_]+",
    method="[a-z0-9_]+",
    dataset="[a-z0-9_]+",
    arch="[a-z0-9_]+",
    run="[^/]+",
    seed="0|[1-9][0-9]*",   # ASCII digits, no leading zeros: one directory per seed


GPUS = visible_gpus()
# --config seeds=0,1,2 replaces the seeds of every cell of the requested tables (docs/reading-tables-and-report.md, "Seeds")
SEEDS = parse_seeds(config.get("seeds"))
SLOTS_PER_GPU = config["gpu_slots"]
# Locally, Snakemake would start as many GPU jobs as cores allow. Each GPU is divided into SLOTS_PER_GPU slots: a
# training job takes all of one GPU's slots, or fewer for the small cells of config gpu_share, so several of those
# share a GPU. The total is capped at the GPUs present unless the user gave --resources gpu_slot=N.
# On SLURM each job asks the scheduler for its own GPU instead.
if GPUS:
    INVOCATION.limit_local_resource("gpu_slot", GPUS * SLOTS_PER_GPU)


def gpu_slots_of(wc) -> int:
    """GPU slots a local training job holds (0 without GPUs, or on a cluster): a share of one GPU for one process
    (config gpu_share of its arch), one whole GPU per process for a run that several train."""
    if not (GPUS and INVOCATION.runs_jobs_here):
        return 0
    if processes_of(wc) > 1:
        if processes_of(wc) > GPUS:
            raise WorkflowError(f"train {spec_of(wc).directory}: {processes_of(wc)} processes, one GPU each, but this "
                                f"machine shows {GPUS} GPU(s); train it on SLURM (--profile profiles/slurm) or lower "
                                f"its processes (config/presets.yaml processes.{wc.dataset})")
        return processes_of(wc) * SLOTS_PER_GPU
    share = config["gpu_share"].get(wc.arch, 1)
    if SLOTS_PER_GPU % share:
        raise ValueError(f"config gpu_share {wc.arch}: {share} does not divide gpu_slots {SLOTS_PER_GPU}")
    return SLOTS_PER_GPU // share


def all_table_targets():
    return [target for preset in suite_config.presets() for target in table_targets(preset)]


@lru_cache(maxsize=None)
def table_of(preset: str, name: str):
    """The table's cells and runs, built once per Snakemake invocation (planning reads them many times); every
    run name's method and options are checked here, so a typo fails `snakemake -n`, not a job."""
    table = build_table(preset, name, SEEDS)
    for run in required_runs(table):
        checked_spec(run)
    return table


@lru_cache(maxsize=None)
def figure_targets():
    return _targets_of_kind("figure")


@lru_cache(maxsize=None)
def complexity_targets():
    return _targets_of_kind("complexity")


def _targets_of_kind(kind: str) -> list:
    return [str(table_target(p, n)) for p in suite_config.presets() for n in table_names(p)
            if suite_config.grid()[n].get("kind") == kind]


def spec_of(wc) -> RunSpec:
    """The run a job's wildcards name; a run asked for by its path (not through a table) is checked here, so a bad
    option value fails `snakemake -n` instead of a job after its reference has trained."""
    spec = RunSpec.from_parts(wc.preset, wc.dataset, wc.arch, wc.run, wc.seed)
    checked_spec(spec)
    return spec


@lru_cache(maxsize=None)
def checked_spec(spec):
    """The run's preset, dataset, arch, method and options (and its reference's), checked torch-free, once."""
    check_spec(spec)
    return spec


def fetch_inputs(wc) -> list:
    """A data check's fetch record, for a real dataset that config/datasets.yaml can fetch: asked for while the
    check's stamp is not there yet, and kept once the record exists, so the set of its inputs never changes after
    its first run (a committed stamp asks for no fetch, and the runs that read it never see one). Off with
    --config fetch_data=false (data put in place by hand)."""
    if not config.get("fetch_data", True) or suite_config.preset(wc.preset)["data_source"] != "real":
        return []
    if not fetch_entry(wc.dataset):
        return []
    record = f"{FETCH_RECORD_PATTERN}.json".format(dataset=wc.dataset)
    return [record] if not stamp_path(wc.preset, wc.dataset).exists() or os.path.exists(record) else []


def retrain_requested(wc) -> bool:
    """Whether this train job runs because the user forced it (--forcerun/-R of its record or of the rule, -F, or
    -f on its record). Snakemake deletes a job's outputs before running it whether it was forced or its head died
    before recording it; only the head knows which, so it leaves <run dir>/.retrain for the job: a forced run is
    retrained with its finished record set aside, an unforced one is restored from its sealed copy."""
    spec = spec_of(wc)
    record = {str(spec.directory / name) for name in ("metrics.json", "epochs.csv")}
    forced = INVOCATION.forced(record, "train")
    if forced is None:   # a job's own process: the head decided
        return False
    if forced and INVOCATION.head and not INVOCATION.dry_run:
        RunArtifacts(spec).request_retrain("snakemake --forcerun")
    return forced


def reference_inputs(wc):
    reference = spec_of(wc).reference
    if reference is None:
        return []
    return [ancient(str(reference.directory / "metrics.json"))]   # its model.pt is rebuilt, verified, if absent


def run_plan(wc) -> dict:
    """The job's plan (methods.plan.grid.RunPlan), handed over as a param."""
    return RunPlan.of(spec_of(wc)).as_params()


def donor_inputs(wc):
    donor = donor_for(spec_of(wc))
    return [] if donor is None else [ancient(str(donor.directory / "metrics.json"))]


def table_files(preset: str, name: str) -> list[str]:
    """What a table is built from: its runs' metrics.json and its complexity files."""
    table = table_of(preset, name)
    runs = [str(run.directory / record) for run in required_runs(table) for record in ("metrics.json", "epochs.csv")]
    complexity = [str(complexity_path(preset, cell.complexity)) for cell in table.cells if cell.complexity]
    return runs + list(dict.fromkeys(complexity))


def table_inputs(wc):
    """A table's records; a table some of whose runs are missing is forced (as `--forcerun <table>` would), so its
    missing runs are planned and it is rebuilt after them. Snakemake would otherwise find an existing table (e.g.
    committed, its cells `missing`) up to date, and it never recreates missing inputs of an up-to-date output (that
    lets one delete intermediates). Decided while the DAG is built, from the files present: nothing is written, so a
    dry run plans exactly what a run does and changes nothing. (Snakemake marks incomplete files the same way.)"""
    files = table_files(*preset_of_target(f"tables/{wc.target}"))
    if any(not os.path.exists(path) for path in files):
        INVOCATION.rebuild(f"tables/{wc.target}.md")
    return files


def report_inputs(wc):
    """Every table (and figure) of the report's preset, built first, and the metrics the report reads: the report
    is the target of the whole grid. The tables are ancient() (a checkout writes report.md before table2.md); a
    run that finishes later makes the report out of date through its metrics.json."""
    preset = preset_of_report(f"tables/{wc.target}.md")
    tables = table_targets(preset)
    figures = [t.removesuffix(".md") + ".png" for t in tables if t.removesuffix(".md") in figure_targets()]
    metrics = [path for target in tables for path in table_files(*preset_of_target(target.removesuffix(".md")))
               if path.endswith("metrics.json")]
    return [ancient(path) for path in tables + figures] + list(dict.fromkeys(metrics))


def table1_inputs(wc):
    """The data-check stamps present for the preset's datasets (absent datasets are never asked for)."""
    preset = preset_of_table1(f"tables/{wc.target}.md")
    return [str(path) for path in (stamp_path(preset, d) for d in paper_datasets().values()) if path.exists()]


def table_label(wc) -> dict:
    return {"table": wc.target}


def figure_label(wc) -> dict:
    return {"figure": wc.target}


# The SLURM partition/account of every job: one setting (--config slurm_partition=... slurm_account=...) that
# leaves every other resource as it is (profile-level --default-resources would replace them all).
CLUSTER = {"slurm_partition": config["slurm_partition"],
           **({"slurm_account": config["slurm_account"]} if config["slurm_account"] else {})}


def job_resources(wc) -> dict:
    """A training job's cluster resources: its preset's (preset_resources) where it has them; job_resources.light
    for a job that trains nothing (a read-off run copies its donor's snapshot; an evaluation of published weights
    runs one pass over the validation set); else its dataset's."""
    return config_resources(wc)[0]


def config_resources(wc) -> tuple[dict, str]:
    """(the resources, the config setting they come from)."""
    by_preset, table = config.get("preset_resources", {}), config["job_resources"]
    if wc.preset in by_preset:
        return by_preset[wc.preset], f"preset_resources.{wc.preset}"
    if "light" in table and trains_nothing(wc):
        return table["light"], "job_resources.light"
    name = wc.dataset if wc.dataset in table else "default"
    return table[name], f"job_resources.{name}"


def trains_nothing(wc) -> bool:
    spec = spec_of(wc)
    return donor_for(spec) is not None or protocol_of(spec).epochs == 0


@lru_cache(maxsize=None)
def protocol_of(spec):
    return resolve(spec)


def check_data_cpus(preset: str) -> int:
    return config.get("preset_resources", {}).get(preset, {}).get("cpus", config["check_data_cpus"])


def fits_the_partition(job: str, request: dict, setting: str) -> int:
    """Raises, while planning for SLURM, when a job asks for more than any node of its partition has: SLURM would
    hold it PENDING forever and Snakemake would wait silently. Returns request's cpus (for the resources line)."""
    if INVOCATION.plans_for_a_cluster and INVOCATION.head:
        limits = partition_limits(config["slurm_partition"])
        problem = limits and misfit(job, request, limits, setting)
        if problem:
            raise WorkflowError(problem)
    return request["cpus"]


def train_cpus(wc) -> int:
    """CPUs of each of the job's tasks (one task, or one per process of a run several train)."""
    wanted, setting = config_resources(wc)
    shape = shape_of(wc)
    per_node = {"cpus": wanted["cpus"] * shape.per_node, "mem_mb": wanted["mem_mb"], "runtime": wanted["runtime"],
                "gpus": shape.per_node, "gpu_model": config["slurm_gpu_model"]}
    fits_the_partition(f"train {spec_of(wc).directory}", per_node, setting)
    return wanted["cpus"]


# A run that several processes train (config/presets.yaml `processes`): locally its job reserves their cores and
# GPUs and starts them with torchrun; on SLURM it asks for one task and one GPU per process on its nodes, and
# starts them with srun inside the allocation (the `mpi` resource: Snakemake's SLURM executor then runs the job's
# script without wrapping it in `srun -n1`). A single-process run asks for exactly what it always did.

def shape_of(wc):
    """Its nodes and processes per node: the preset's for the dataset (presets.yaml `processes`), one process for a
    run its protocol evaluates on one."""
    return launch_shape(wc.preset, wc.dataset) if protocol_of(spec_of(wc)).processes > 1 else LaunchShape()


def processes_of(wc) -> int:
    return shape_of(wc).processes


def train_threads(wc) -> int:
    return config["train_threads"] * processes_of(wc)


def train_gpu_model(wc):
    """The GPU model every training job asks for on a cluster (config slurm_gpu_model); unset (None) for any."""
    return config["slurm_gpu_model"] or None if INVOCATION.plans_for_a_cluster else None


def train_gpus(wc) -> int:
    """A cluster job always asks for its own GPU, one per process (its dry run included); a local one shares them
    by gpu_slot."""
    return processes_of(wc) if INVOCATION.plans_for_a_cluster else 0


def distributed_resource(name: str):
    """A SLURM task setting of a run several processes train; unset (None) for a single process."""
    def value(wc):
        shape = shape_of(wc)
        if shape.processes == 1:
            return None
        return {"tasks": shape.processes, "tasks_per_gpu": 1, "nodes": shape.nodes, "mpi": "srun"}[name]
    return value


def data_check_cpus(wc) -> int:
    cpus = check_data_cpus(wc.preset)
    setting = f"preset_resources.{wc.preset}" if wc.preset in config.get("preset_resources", {}) else "check_data_cpus"
    return fits_the_partition(f"check_data {wc.preset}/{wc.dataset}", {"cpus": cpus}, setting)


# The kinds of table output, each made a Snakemake job type by workflow/rules/tables.smk: what each reads,
# which files it writes (those shown by `snakemake --report`), which targets it owns.

FILES = {"md": "tables/{target}.md", "tex": "tables/{target}.tex", "csv": "tables/{target}.csv",
         "png": "tables/{target}.png", "pdf": "tables/{target}.pdf", "curves": "tables/{target}_curves.png"}


def _outputs(files: tuple[str, ...], shown: dict) -> dict:
    """The kind's files; those in `shown` ({file: (category, labels, subcategory)}) go to `snakemake --report`."""
    outputs = {}
    for name in files:
        if name in shown:
            category, labels, subcategory = shown[name]
            outputs[name] = report(FILES[name], category=category, labels=labels,
                                   **({"subcategory": subcategory} if subcategory else {}))
        else:
            outputs[name] = FILES[name]
    return outputs


def _names(targets) -> str:
    """A wildcard constraint matching exactly these targets (tables/<name>.md -> <name>)."""
    return "|".join(str(t).removesuffix(".md").removeprefix("tables/") for t in targets) or "(?!)"


def _plain_tables():
    return [t for t in all_table_targets() if t.removesuffix(".md") not in figure_targets() + complexity_targets()]


CURVES = ("Learning curves", table_label, None)
REPORT = {"md": ("Report", {"file": "claims and agreement (Markdown)"}, None),
          "csv": ("Report", {"file": "claims and agreement (CSV)"}, None),
          "png": ("Report", {"file": "ours against the paper"}, None)}
TABLE_KINDS = {
    # rule: (what it reads, its other inputs, its files, those shown in the report, its targets, log suffix)
    "table": (table_inputs, {}, ("md", "tex", "csv", "curves"),
              {"csv": ("Tables", table_label, None), "curves": CURVES}, _plain_tables, ""),
    "figure": (table_inputs, {}, ("md", "tex", "csv", "png", "pdf", "curves"),
               {"csv": ("Figures", figure_label, "{target}"), "png": ("Figures", figure_label, "{target}"),
                "curves": CURVES}, figure_targets, ".figure"),
    "complexity_table": (table_inputs, {}, ("md", "tex", "csv"), {"csv": ("Tables", table_label, None)},
                         complexity_targets, ""),
    "report": (report_inputs, {"claims": PAPER_CLAIMS}, ("md", "tex", "csv", "png", "pdf"), REPORT, report_targets,
               ""),
    "table1": (table1_inputs, {}, ("md", "tex", "csv"), {"csv": ("Tables", table_label, None)},
               lambda: [table1_target(p) for p in table1_presets()], ""),
}


def watch_the_cluster() -> None:
    """On a cluster, while the head schedules: every pending job of this workflow is reported with SLURM's reason
    (every config pending_report_s seconds), and SIGTERM to the head is taken as Ctrl-C, on which Snakemake cancels
    its running jobs (scancel) and exits, instead of waiting on them."""
    if not (INVOCATION.plans_for_a_cluster and INVOCATION.head) or INVOCATION.dry_run:
        return
    import signal
    import threading

    def interrupt(signum, _frame):
        print("SIGTERM: cancelling this workflow's SLURM jobs (as on Ctrl-C)", flush=True)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
    every = float(os.environ.get("FOCUSNET_PENDING_REPORT_S", config["pending_report_s"]))
    threading.Thread(target=report_pending, args=(os.getcwd(), every, partial(print, flush=True),
                                                  threading.Event()), daemon=True).start()
