"""The CPU training series' scripts (benchmarks/series/run-queue.sh and collect.sh), run for real on a scratch git
repository with a fake `python -m methods` that "trains" in a fraction of a second: which lines train, skip, wait or
stop, and what collect.sh brings back or refuses. The real trainer is tested elsewhere; here it is the shell logic
that decides what a multi-hour series trains."""
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from methods.plan.protocol import resolve
from methods.plan.spec import RunSpec

SERIES = Path(__file__).resolve().parent.parent / "benchmarks" / "series"
BASELINE = "results/paper/mnist/lenet5/baseline/seed0"
FOCUSNET = "results/paper/mnist/lenet5/focusnet@lenet5.baseline/seed0"
DROPMAX = "results/paper/mnist/lenet5/dropmax/seed0"

# `python -m methods train <dir> ... --log <file>` writes what a finished run leaves (the record, its per-epoch CSV,
# its log, its weights); `verify <dir> --epochs <n> --record` adds a check to the run's verified.json. Every call is
# logged, with the time it started and ended, to $FAKE_CALLS. A run of a method against a reference needs the
# reference's record: like the real trainer it rebuilds missing weights from a record, and fails without one (so the
# series must wait for a reference it trains itself).
FAKE_METHODS = textwrap.dedent("""\
    import json, os, sys, time
    from pathlib import Path
    _, _, _, command, run_dir, *flags = sys.argv   # <this script> -m methods <command> <run dir> ...
    calls = Path(os.environ["FAKE_CALLS"])
    def log(event):
        with calls.open("a") as f:
            f.write(json.dumps({"event": event, "command": command, "dir": run_dir, "cwd": os.getcwd(),
                                "flags": flags, "time": time.time()}) + "\\n")
    log("start")
    run = Path(run_dir)
    if command == "train":
        name = run.parent.name
        if "@" in name:
            ref_arch, ref_run = name.split("@")[1].split(".", 1)
            reference = run.parent.parent.parent / ref_arch / ref_run / run.name
            if not (reference / "metrics.json").exists():
                sys.exit(f"no record of the reference {reference}")
            if not (reference / "model.pt").exists():
                log("rebuild " + str(reference))
                (reference / "model.pt").write_text("rebuilt weights")
        time.sleep(float(os.environ.get("FAKE_TRAIN_S", "0")))
        run.mkdir(parents=True, exist_ok=True)
        hashes = json.loads(os.environ.get("FAKE_HASHES", "{}"))
        (run / "metrics.json").write_text(json.dumps({"protocol_hash": hashes.get(run_dir, "0" * 16)}))
        (run / "epochs.csv").write_text("epoch,val_top1\\n1,99.0\\n")
        Path(flags[flags.index("--log") + 1]).write_text("trained\\n")
        (run / "model.pt").write_text("weights")
    elif command == "verify":
        checks = run / "verified.json"
        held = json.loads(checks.read_text()) if checks.exists() else []
        checks.write_text(json.dumps(held + [{"host": "fake", "epochs": int(flags[flags.index("--epochs") + 1])}]))
    log("end")
""")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def write_record(repo: Path, run_dir: str, protocol_hash: str = "0" * 16, **files: str) -> None:
    run = repo / run_dir
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.json").write_text(json.dumps({"protocol_hash": protocol_hash}))
    for name, text in files.items():
        (run / name.replace("_", ".")).write_text(text)


class Series:
    """A scratch checkout holding the series' scripts, its worktrees beside it, and the fake trainer."""

    def __init__(self, root: Path):
        self.repo, self.worktrees, self.calls = root / "repo", root / "worktrees", root / "calls.jsonl"
        (self.repo / "benchmarks" / "series").mkdir(parents=True)
        for script in ("run-queue.sh", "collect.sh"):
            shutil.copy2(SERIES / script, self.repo / "benchmarks" / "series" / script)
        (self.repo / "README.md").write_text("scratch\n")
        git(self.repo, "init", "-q")
        self.first = commit_all(self.repo, "scripts")
        self.python = root / "fake-python"
        self.python.write_text(f"#!{sys.executable}\n{FAKE_METHODS}")
        self.python.chmod(self.python.stat().st_mode | stat.S_IXUSR)
        self.hashes: dict[str, str] = {}

    def env(self, **extra: str) -> dict:
        return {**os.environ, "WORKTREES": str(self.worktrees), "DATA_ROOT": str(self.repo), "POLL_S": "0.1",
                "STAGGER_S": "0.1", "FAKE_CALLS": str(self.calls), "FAKE_HASHES": json.dumps(self.hashes), **extra}

    def run_queue(self, *lines: str, **env: str) -> str:
        queue = self.repo.parent / "test.queue"
        queue.write_text("".join(line + "\n" for line in lines))
        done = subprocess.run(["bash", str(self.repo / "benchmarks/series/run-queue.sh"), str(queue)],
                              env=self.env(**env), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def collect(self, *commits: str) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", str(self.repo / "benchmarks/series/collect.sh"), *commits],
                              env=self.env(PY=sys.executable),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.calls.read_text().splitlines()] if self.calls.exists() else []

    def trained(self) -> list[str]:
        return [event["dir"] for event in self.events() if event["event"] == "start" and event["command"] == "train"]


@pytest.fixture
def series(tmp_path):
    return Series(tmp_path)


def test_each_train_line_runs_once_in_the_worktree_pinned_at_its_commit_through_the_normal_path(series):
    out = series.run_queue("# a comment", f"{series.first} train {BASELINE}", f"{series.first} train {DROPMAX}",
                           WORKERS="1", PY=str(series.python))
    assert series.trained() == [BASELINE, DROPMAX]
    tree = series.worktrees / series.first
    for event in series.events():
        assert Path(event["cwd"]) == tree
        assert event["flags"][event["flags"].index("--cpu-isa") + 1] == "avx2"   # portable kernels
        assert event["flags"][event["flags"].index("--threads") + 1] == "1"
    assert (tree / BASELINE / "metrics.json").exists() and not (series.repo / BASELINE).exists()
    assert f"done train {tree} {DROPMAX}" in out
    # a restart skips what finished
    series.calls.unlink()
    series.run_queue(f"{series.first} train {BASELINE}", WORKERS="1", PY=str(series.python))
    assert series.trained() == []


def test_a_run_committed_in_the_checkout_counts_as_finished_on_a_fresh_host(series):
    write_record(series.repo, BASELINE)
    commit_all(series.repo, "baseline's record")
    series.run_queue(f"{series.first} train {BASELINE}", f"{series.first} train {DROPMAX}", WORKERS="1",
                     PY=str(series.python))
    assert series.trained() == [DROPMAX]


def test_a_method_queued_before_its_reference_waits_for_the_references_weights(series):
    out = series.run_queue(f"{series.first} train {FOCUSNET}", f"{series.first} train {BASELINE}",
                           WORKERS="2", PY=str(series.python), FAKE_TRAIN_S="1")
    assert "FAILED" not in out
    events = {(event["dir"], event["event"]): event["time"] for event in series.events()}
    assert events[(FOCUSNET, "start")] >= events[(BASELINE, "end")]
    assert sorted(series.trained()) == sorted([BASELINE, FOCUSNET])   # the reference trained once


def test_a_committed_references_record_is_copied_into_a_worktree_pinned_before_it(series):
    write_record(series.repo, BASELINE, epochs_csv="epoch\n1\n")
    commit_all(series.repo, "baseline's record")
    series.run_queue(f"{series.first} train {FOCUSNET}", WORKERS="1", PY=str(series.python))
    tree = series.worktrees / series.first
    assert (tree / BASELINE / "metrics.json").read_text() == (series.repo / BASELINE / "metrics.json").read_text()
    assert (tree / BASELINE / "epochs.csv").exists()
    assert series.trained() == [FOCUSNET]   # not waiting for weights nobody in the queue trains
    assert f"rebuild {BASELINE}" in [event["event"] for event in series.events()]


def test_no_run_starts_after_start_until_and_the_queue_keeps_the_rest(series):
    out = series.run_queue(f"{series.first} train {BASELINE}", WORKERS="2", PY=str(series.python),
                           START_UNTIL="-1 minute")
    assert series.trained() == []
    assert out.count("past START_UNTIL") == 2
    assert (series.worktrees / "test.queue.live").read_text() == f"{series.first} train {BASELINE}\n"


def test_a_verify_line_runs_once_and_is_skipped_once_a_check_is_committed_since_its_commit(series):
    write_record(series.repo, BASELINE)
    pinned = commit_all(series.repo, "baseline's record")
    line = f"{pinned} verify {BASELINE} 2"
    series.run_queue(line, line, WORKERS="1", PY=str(series.python))
    assert [event["command"] for event in series.events() if event["event"] == "start"] == ["verify"]
    checks = json.loads((series.worktrees / pinned / BASELINE / "verified.json").read_text())
    assert checks == [{"host": "fake", "epochs": 2}]
    # on a fresh host (new worktrees), after that check was collected and committed, the line is not run again
    series.collect()
    commit_all(series.repo, "the check")
    shutil.rmtree(series.worktrees)
    git(series.repo, "worktree", "prune")
    series.calls.unlink()
    series.run_queue(line, WORKERS="1", PY=str(series.python))
    assert series.events() == []


def test_collect_copies_finished_records_and_refuses_one_trained_under_another_protocol(series):
    kept = resolve(RunSpec.from_directory(BASELINE)).hash
    series.hashes = {BASELINE: kept, DROPMAX: "f" * 16}   # DropMax's record names a protocol main does not resolve
    series.run_queue(f"{series.first} train {BASELINE}", f"{series.first} train {DROPMAX}", WORKERS="1",
                     PY=str(series.python))
    done = series.collect()
    assert f"{BASELINE} (from {series.first})" in done.stdout
    run = series.repo / BASELINE
    assert sorted(path.name for path in run.iterdir()) == ["epochs.csv", "metrics.json", "train.log"]   # no weights
    assert json.loads((run / "metrics.json").read_text())["protocol_hash"] == kept
    assert f"REFUSED {DROPMAX}" in done.stderr and not (series.repo / DROPMAX).exists()
    # collecting again copies nothing
    assert series.collect().stdout == ""


def test_collect_adds_a_worktrees_checks_to_those_the_checkout_holds(series):
    write_record(series.repo, BASELINE)
    pinned = commit_all(series.repo, "baseline's record")
    series.run_queue(f"{pinned} verify {BASELINE} 2", WORKERS="1", PY=str(series.python))
    # meanwhile the checkout got another host's check of the same run
    (series.repo / BASELINE / "verified.json").write_text(json.dumps([{"host": "other", "epochs": 1}]))
    done = series.collect()
    assert f"{BASELINE}/verified.json (checked at {pinned}: 1 added)" in done.stdout
    assert json.loads((series.repo / BASELINE / "verified.json").read_text()) == [
        {"host": "other", "epochs": 1}, {"host": "fake", "epochs": 2}]


def test_collect_goes_on_past_a_worktree_with_no_new_record(series):
    series.hashes = {DROPMAX: resolve(RunSpec.from_directory(DROPMAX)).hash}
    write_record(series.repo, BASELINE)
    pinned = commit_all(series.repo, "baseline's record")
    series.run_queue(f"{pinned} verify {BASELINE} 2", f"{series.first} train {DROPMAX}", WORKERS="1",
                     PY=str(series.python))
    done = series.collect(pinned, series.first)   # the first worktree trained nothing: no untracked record
    assert f"{DROPMAX} (from {series.first})" in done.stdout
