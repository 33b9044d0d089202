"""The layers: planning (methods.plan), run records (methods.runs) and reporting (methods.report) never import torch,
the engine, the zoo or the benchmarks. Checked in fresh processes in which importing any of those fails: every
committed table and report rebuilt (byte for byte), and the whole paper DAG planned by `snakemake -n`, which
writes nothing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from methods import PROJECT_ROOT
from methods.plan import config
from methods.plan.grid import table_names
from methods.plan.layout import report_target, table_target

FORBIDDEN = ("torch", "torchvision", "timm", "methods.engine", "methods.zoo", "methods.throughput",
             "methods.registry", "methods.method", "methods.models.factory")
BLOCKER = f'''
import importlib.abc, sys
FORBIDDEN = {FORBIDDEN!r}

class Forbidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
            raise ImportError(f"{{name}} imported where planning, run records or reporting must not import it")
        return None

sys.meta_path.insert(0, Forbidden())
'''


@pytest.fixture()
def forbidding_env(tmp_path) -> dict:
    """An environment whose Python processes cannot import the forbidden modules (a sitecustomize that refuses)."""
    folder = tmp_path / "forbid"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def test_the_blocker_blocks(forbidding_env):
    result = subprocess.run([sys.executable, "-c", "import torch"], env=forbidding_env, capture_output=True,
                            text=True)
    assert result.returncode != 0 and "must not import it" in result.stderr


def committed_targets() -> list[str]:
    targets = []
    for preset in ("paper", "demo"):
        for name in table_names(preset):
            if (PROJECT_ROOT / table_target(preset, name).with_suffix(".md")).exists():
                targets.append(str(table_target(preset, name)) + ".md")
        targets.append(str(report_target(preset)) + ".md")
    targets.append("tables/table1.md")
    return targets


def test_every_committed_table_and_report_builds_without_torch_byte_for_byte(tmp_path, forbidding_env):
    """`python -m methods table` in a fresh process that cannot import torch, writing beside a link to the
    committed results: each .md, .tex and .csv equals the committed one."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "results").symlink_to(PROJECT_ROOT / "results")
    targets = committed_targets()
    assert {"tables/table2.md", "tables/report.md", "tables/demo.md", "tables/demo_report.md"} <= set(targets)
    result = subprocess.run([sys.executable, "-m", "methods", "table", *targets], cwd=work, env=forbidding_env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    for target in targets:
        for suffix in (".md", ".tex", ".csv"):
            built, committed = (work / target).with_suffix(suffix), (PROJECT_ROOT / target).with_suffix(suffix)
            assert built.read_bytes() == committed.read_bytes(), first_difference(built, committed)


def first_difference(built: Path, committed: Path) -> str:
    """'tables/x.md differs from the committed file at line 7: built ... / committed ...'"""
    new, old = built.read_text().splitlines(), committed.read_text().splitlines()
    for number, (line, was) in enumerate(zip(new, old), start=1):
        if line != was:
            return f"{committed.name} differs from the committed file at line {number}:\n built:     {line}\n committed: {was}"
    return f"{committed.name} differs from the committed file in length ({len(new)} lines built, {len(old)} committed)"


def test_the_docs_check_runs_without_torch(forbidding_env):
    result = subprocess.run([sys.executable, "-m", "methods", "check-docs"], cwd=PROJECT_ROOT, env=forbidding_env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_whole_paper_dag_plans_without_torch_and_writes_nothing(tmp_path, forbidding_env):
    """`snakemake -n` of every paper table and figure, on a copy of the committed records: it plans (missing runs
    included) in a process that cannot import torch, and leaves every file as it was (no marker files)."""
    if not (PROJECT_ROOT / ".git").exists():
        pytest.skip("not a git checkout: there is no committed state to clone")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True, timeout=300)
    targets = [str(table_target("paper", name)) + (".png" if config.grid()[name].get("kind") == "figure" else ".md")
               for name in table_names("paper")]
    before = _listing(clone)
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(PROJECT_ROOT / "Snakefile"), "-d",
                             str(clone), "-n", "--", *targets], cwd=clone, env=forbidding_env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "rule train:" in result.stdout and "tables/table2.md" in result.stdout   # missing runs and their table
    assert _listing(clone) == before
    assert not (clone / ".snakemake" / "focusnet").exists()


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file outside .git and Snakemake's own .snakemake/ (locks, logs): size and modification time."""
    files = {}
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if path.is_file() and parts[0] not in (".git", ".snakemake"):
            stat = path.stat()
            files[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return files


def test_the_import_linter_contracts_hold():
    """The static picture (pyproject.toml [tool.importlinter]): the layers import only downward, and planning, run
    records and reporting import neither torch nor the engine, function-local imports included (grimp reads them)."""
    import shutil
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([lint, "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_every_function_local_import_says_why_it_is_not_at_the_top():
    """A function-local import hides an arrow from a reader of the module's head: each one avoids a real start-up
    cost (torch before the kernels are pinned, matplotlib, pandas, scipy, timm) and says so on its line or the one
    above."""
    import ast
    unexplained = []
    for path in sorted((PROJECT_ROOT / "methods").rglob("*.py")):
        lines = path.read_text().splitlines()
        for function in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    here, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
                    if "#" not in here and not above.startswith("#"):
                        unexplained.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {here.strip()}")
    assert not unexplained, "function-local imports without a reason:\n" + "\n".join(unexplained)
