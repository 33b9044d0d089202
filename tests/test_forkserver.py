"""methods/forkserver.py: a job forked from the warm server writes what the same job writes in a fresh process,
reports its exit status and output, and the server stops on request."""
import json
import os
import subprocess
import sys
import time

import pytest

RUN = "results/smoke/mnist/lenet5/baseline/seed0"
CLIENT = ("import sys; from pathlib import Path; from methods.forkserver import run, SOCKET; "
          "sys.exit(run(Path(SOCKET), sys.argv[1:]))")


def job(cwd, *argv, forked=True):
    command = [sys.executable, "-c", CLIENT, *argv] if forked else [sys.executable, "-m", "methods", *argv]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def server_dir(tmp_path):
    yield tmp_path
    subprocess.run([sys.executable, "-m", "methods.forkserver", "stop", ".snakemake/focusnet-forkserver.sock"],
                   cwd=tmp_path, capture_output=True, timeout=60)


def test_forked_job_equals_a_fresh_process_and_reuses_the_server(server_dir, tmp_path_factory):
    argv = ("train", RUN, "--num-workers", "0", "--threads", "1", "--log", "train.log")
    first = job(server_dir, *argv)
    assert first.returncode == 0, first.stderr
    assert "done: best top1" in first.stdout and "done: best top1" in (server_dir / "train.log").read_text()
    fresh_dir = tmp_path_factory.mktemp("fresh")
    fresh = job(fresh_dir, *argv, forked=False)
    assert fresh.returncode == 0, fresh.stderr
    forked_metrics = json.loads((server_dir / RUN / "metrics.json").read_text())
    fresh_metrics = json.loads((fresh_dir / RUN / "metrics.json").read_text())
    for key in ("best", "final", "protocol_hash"):
        assert forked_metrics[key] == fresh_metrics[key]
    servers = (server_dir / ".snakemake" / "focusnet-forkserver.log").read_text().count("listening")
    second = job(server_dir, "train", RUN.replace("seed0", "seed1"), "--num-workers", "0", "--threads", "1")
    assert second.returncode == 0, second.stderr
    assert (server_dir / ".snakemake" / "focusnet-forkserver.log").read_text().count("listening") == servers == 1


def test_failing_job_reports_its_status_and_error(server_dir):
    result = job(server_dir, "train", "results/smoke/mnist/lenet5/no_such_method/seed0", "--num-workers", "0")
    assert result.returncode == 1
    assert "unknown method 'no_such_method'" in result.stderr


def test_stop_ends_the_server(server_dir):
    assert job(server_dir, "runs", "tables/smoke/table4.md").returncode == 0
    socket_path = server_dir / ".snakemake" / "focusnet-forkserver.sock"
    assert socket_path.exists()
    stopped = subprocess.run([sys.executable, "-m", "methods.forkserver", "stop", str(socket_path)],
                             capture_output=True, text=True, timeout=60)
    assert stopped.stdout.strip() == "stopped"
    for _ in range(50):
        if not socket_path.exists():
            break
        time.sleep(0.1)
    assert not socket_path.exists()
