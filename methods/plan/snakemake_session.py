"""What the workflow needs to know of the Snakemake invocation planning it, read in this one place.

Snakemake's public Snakefile API (rules, input functions, `config`, `workflow.basedir`) says nothing of how it was
invoked: whether a target was forced (--forcerun / -R / -F / -f), whether this is a dry run, whether the head or a
job's own process reads the Snakefile, which executor will run the jobs, or how to have a target rebuilt from an input
function. The suite needs each of these (docs/running.md: forced retrains set the old record aside; a table with
missing runs is rebuilt after them; GPU slots locally; SLURM planning checks), so it reads them from the `workflow`
object's attributes here and nowhere else. Each is probed when the Snakefile is read: a Snakemake without one stops
planning with one line naming the supported versions, never with an AttributeError in a job.
tests/test_snakemake_versions.py plans the grid under the oldest and newest version of SUPPORTED and compares the plans.
Torch-free and Snakemake-free (it duck-types the object), so it is planning."""
from __future__ import annotations

# The Snakemake versions the rules are tested with (tests/test_snakemake_versions.py installs both ends); pyproject
# pins the newest. Under 9.10 a checkout with recorded metadata (.snakemake/) planned tables/table2.md without its
# missing runs (observed 2026-12-07: the rebuild asked from an input function was not honoured).
SUPPORTED = ("9.11.0", "9.27.1")

_NEEDED = ("is_main_process", "dryrun", "local_exec", "dag_settings", "execution_settings", "global_resources",
           "register_resource")


class UnsupportedSnakemake(RuntimeError):
    pass


class Invocation:
    """The invocation, as the rules ask about it."""

    def __init__(self, workflow, version: str = ""):
        missing = [name for name in _NEEDED if not hasattr(workflow, name)]
        if missing:
            raise UnsupportedSnakemake(
                f"this Snakemake ({version or 'unknown version'}) has no workflow.{', workflow.'.join(missing)}, "
                f"which the rules read (methods/plan/snakemake_session.py); install a tested one: pip install "
                f"'snakemake>={SUPPORTED[0]},<={SUPPORTED[1]}'")
        self._workflow = workflow

    @property
    def head(self) -> bool:
        """The process that plans and schedules (not a job's own process re-reading the Snakefile)."""
        return bool(self._workflow.is_main_process)

    @property
    def dry_run(self) -> bool:
        return bool(self._workflow.dryrun)

    @property
    def runs_jobs_here(self) -> bool:
        """Jobs run on this machine (the local executor; in a dry run also, whatever executor was asked for)."""
        return bool(self._workflow.local_exec)

    @property
    def plans_for_a_cluster(self) -> bool:
        """A cluster executor (the SLURM profile), also in a dry run: there Snakemake swaps in its dry-run executor
        (local_exec) but keeps use_threads, which it derives from the intended executor."""
        settings = self._workflow.execution_settings
        return not self.runs_jobs_here or bool(settings and getattr(settings, "use_threads", False))

    def forced(self, files: set[str], rule: str) -> bool | None:
        """Whether the user forced a job of `rule` making `files` (--forcerun/-R of a file or of the rule, -F, or -f
        on a target); None in a job's own process, where only the head knew."""
        settings = self._workflow.dag_settings
        if settings is None:
            return None
        forcerun = set(map(str, settings.forcerun or ()))
        targets = set(map(str, settings.targets or ()))
        return bool(settings.forceall or rule in forcerun or files & forcerun
                    or (settings.forcetargets and files & targets))

    def rebuild(self, path: str) -> None:
        """Have `path` rebuilt as if the user had asked --forcerun for it (called while the DAG is built)."""
        dag = getattr(self._workflow, "dag", None)
        if dag is not None:
            dag.forcefiles.add(path)

    def limit_local_resource(self, name: str, amount: int) -> None:
        """Cap a resource of the jobs run here at `amount`, unless the user set it (--resources name=N)."""
        if self.runs_jobs_here and name not in self._workflow.global_resources:
            self._workflow.register_resource(name, amount)
