"""Run a job's command in a child forked from a warm server instead of a fresh interpreter (opt-in).

Importing torch and torchvision costs a Python process 5-8 s on a small CPU. A paper-protocol job trains for
hours and does not notice; the smoke preset's ~180 jobs of a few seconds each spend most of their time there.
With the Snakemake config `forkserver: true` (the smoke test sets it), each job's script asks a server that has
imported the package once to fork a child that runs `python -m methods <argv>` in the job's working directory,
with the job's environment and its stdin/stdout/stderr (passed over a Unix socket), and exits with the child's
status. The server starts on first use, runs no torch operation and never touches CUDA (so forking is safe),
and exits after `IDLE_S` seconds without jobs. A client that is killed takes its child with it.

    python -m methods.forkserver serve <socket>   # what the first client starts, in the background
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

SOCKET = ".snakemake/focusnet-forkserver.sock"   # relative to the workflow's working directory (-d)
IDLE_S = 120.0
START_TIMEOUT_S = 120.0
_STATUS = struct.Struct("!qq")   # (kind, value): kind 0 = child pid, 1 = exit status


def command(argv: list[str], forked: bool) -> int:
    """`python -m methods <argv>`: forked from the server in the working directory, or in this process."""
    if forked:
        return run(Path(SOCKET), argv)
    from methods.cli import main
    return main(argv)


def run(socket_path: Path, argv: list[str]) -> int:
    """Run `python -m methods <argv>` through the server at `socket_path` (started if none answers)."""
    connection = _connect_or_start(socket_path)
    _send(connection, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)})
    pid = _receive(connection, expect=0)
    forward = lambda signum, frame: _kill(pid, signum)   # noqa: E731
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    return _receive(connection, expect=1)


def stop(socket_path: Path) -> bool:
    """Ask a running server to exit (True if one answered)."""
    connection = _try_connect(socket_path)
    if connection is None:
        return False
    _send(connection, {"stop": True})
    connection.close()
    return True


def _send(connection: socket.socket, request: dict) -> None:
    """A length-prefixed JSON request, with this process's stdin/stdout/stderr passed along."""
    data = json.dumps(request).encode()
    connection.sendall(struct.pack("!q", len(data)))
    socket.send_fds(connection, [data], [0, 1, 2])


def _receive(connection: socket.socket, expect: int) -> int:
    try:
        kind, value = _STATUS.unpack(_read_exactly(connection, _STATUS.size))
    except OSError:
        raise RuntimeError("the fork server closed the connection (see .snakemake/focusnet-forkserver.log); "
                           "run without it: --config forkserver=false") from None
    if kind != expect:
        raise RuntimeError(f"fork server protocol error: got message {kind}, expected {expect}")
    return value


def _connect_or_start(socket_path: Path) -> socket.socket:
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    connection = _try_connect(socket_path)
    if connection is not None:
        return connection
    with open(f"{socket_path}.lock", "w") as lock:     # one client starts the server; the others wait for it
        fcntl.flock(lock, fcntl.LOCK_EX)
        connection = _try_connect(socket_path)
        if connection is not None:
            return connection
        socket_path.unlink(missing_ok=True)           # a dead server's socket
        log = open(socket_path.with_suffix(".log"), "a")
        subprocess.Popen([sys.executable, "-m", "methods.forkserver", "serve", str(socket_path)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            time.sleep(0.2)
            connection = _try_connect(socket_path)
            if connection is not None:
                return connection
    raise RuntimeError(f"the fork server did not start within {START_TIMEOUT_S:.0f} s "
                       f"(see {socket_path.with_suffix('.log')}); run without it: --config forkserver=false")


def _try_connect(socket_path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(socket_path))
    except OSError:
        connection.close()
        return None
    return connection


def serve(socket_path: Path) -> None:
    import methods.cli            # noqa: F401  the warm part: torch, torchvision, every method
    import methods.engine.trainer  # noqa: F401
    import methods.registry
    methods.registry.method_keys()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    signal.signal(signal.SIGTERM, lambda signum, frame: (Path(socket_path).unlink(missing_ok=True), os._exit(0)))
    listener.listen(64)
    active = [0]
    last_job = [time.time()]
    lock = threading.Lock()
    print(f"fork server {os.getpid()} listening on {socket_path}", flush=True)
    while True:
        ready, _, _ = select.select([listener], [], [], 5.0)
        if ready:
            connection, _ = listener.accept()
            with lock:
                active[0] += 1
            threading.Thread(target=_serve_one, args=(connection, active, last_job, lock), daemon=True).start()
        with lock:
            idle = active[0] == 0 and time.time() - last_job[0] > IDLE_S
        if idle:
            listener.close()
            socket_path.unlink(missing_ok=True)
            print("fork server idle: exiting", flush=True)
            return


def _serve_one(connection: socket.socket, active: list, last_job: list, lock: threading.Lock) -> None:
    try:
        size = struct.unpack("!q", _read_exactly(connection, 8))[0]
        request, fds, _, _ = socket.recv_fds(connection, size, 3)
        while len(request) < size:
            request += _read_exactly(connection, size - len(request))
        job = json.loads(request)
        if job.get("stop"):
            for fd in fds:
                os.close(fd)
            print("fork server: stop requested", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        pid = os.fork()
        if pid == 0:
            _child(connection, job, fds)
        for fd in fds:
            os.close(fd)
        connection.sendall(_STATUS.pack(0, pid))
        status = _wait(pid, connection)
        connection.sendall(_STATUS.pack(1, status))
    except OSError as error:
        print(f"fork server: a job's connection failed: {error}", flush=True)
    finally:
        connection.close()
        with lock:
            active[0] -= 1
            last_job[0] = time.time()


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise OSError("client closed the connection")
        data += chunk
    return data


def _wait(pid: int, connection: socket.socket) -> int:
    """The child's exit status; the child is killed if its client goes away first."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        readable, _, _ = select.select([connection], [], [], 0.05)
        if readable and not connection.recv(1, socket.MSG_PEEK):
            _kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
            raise OSError("client went away; its job was stopped")


def _child(connection: socket.socket, job: dict, fds: list[int]) -> None:
    code = 1
    try:
        connection.close()
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin, sys.stdout, sys.stderr = (os.fdopen(0, "r"), os.fdopen(1, "w", buffering=1),
                                             os.fdopen(2, "w", buffering=1))
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        sys.argv = ["python -m methods", *job["argv"]]
        from methods.cli import main
        code = main(job["argv"])
    except SystemExit as exit_:       # sys.exit(n) or sys.exit("message"), as in a fresh interpreter
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("serve", "stop"):
        sys.exit("usage: python -m methods.forkserver {serve,stop} <socket path>")
    if sys.argv[1] == "serve":
        serve(Path(sys.argv[2]))
    else:
        print("stopped" if stop(Path(sys.argv[2])) else "no fork server answered")
