"""Flower as local processes: a SuperLink, SuperNodes bound to ``node.toml`` files, and runs.

Every child gets ``FLWR_TELEMETRY_ENABLED=0`` and
``FLWR_DISABLE_UPDATE_CHECK=1``, its own ``FLWR_HOME`` and its own process
group (Flower services start ``flower-superexec`` and per-run children);
:meth:`Service.stop` ends the whole group. On one machine everything is on
loopback without TLS; across hospitals use TLS and SuperNode authentication
(``docs/federation.md``).

:func:`submit` starts one run of MedHaven's Flower App with ``flwr run``
and waits for the result file the ServerApp writes; the ServerApp runs on
the SuperLink's host, so ``submit`` must run on that host too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from medhaven.errors import InvalidInput, NotFound, TransportError
from medhaven.federation.flower_app import APP_DIR
from medhaven.federation.tls import TlsFiles

CHILD_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
CONNECTION = "medhaven"
# Flower's SuperExec (inside the SuperLink and each SuperNode) looks for new work every
# second by default; a ServerApp or ClientApp then starts up to a second late, per message.
SERVICE_ENV = {"FLWR_SUPEREXEC_TASK_POLL_INTERVAL": "0.2"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tool(name: str) -> str:
    """A Flower console script: next to this Python first (a venv), then on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        raise TransportError(f"{name}: not installed (pip install flwr)")
    return found


def child_env(home: Path) -> dict[str, str]:
    """The environment of a Flower child: ours, telemetry and update check off, own FLWR_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    # Flower starts its own helpers (flower-superexec, flwr-serverapp, flwr-clientapp) by name:
    # put this interpreter's scripts first on PATH, so a venv works without being activated.
    scripts = str(Path(sys.executable).parent)
    path = os.pathsep.join([scripts, os.environ.get("PATH", "")]).rstrip(os.pathsep)
    return {**os.environ, **CHILD_ENV, "FLWR_HOME": str(home), "PATH": path}


@dataclass
class Service:
    """One long-running Flower process (and its process group)."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    address: str = ""
    _log: IO[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after ``timeout`` seconds."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                # the leader is gone; children of the group may linger: kill them too
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break
        if self.proc.poll() is None:
            # a busy host: SIGKILL was sent; a process still exiting is reaped later
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def flower_exit_code(self) -> int | None:
        """The exit code Flower reported in the log (e.g. 305: an unregistered SuperNode).

        Flower's services print ``Exit Code: N`` and then exit with status 1.
        """
        found = re.findall(r"Exit Code: (\d+)", self.log_tail(20_000))
        return int(found[-1]) if found else None

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the process's log (for a developer; may name paths, never patient data)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def _spawn(name: str, cmd: Sequence[str], *, home: Path, log_path: Path) -> Service:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab")  # noqa: SIM115 - closed by Service.stop
    env = {**SERVICE_ENV, **child_env(home)}  # an operator's own setting wins
    proc = subprocess.Popen(  # noqa: S603 - fixed Flower executables, no shell
        list(cmd), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        env=env, cwd=home, start_new_session=True,
    )  # fmt: skip
    return Service(name=name, proc=proc, log_path=log_path, _log=out)


def _readable(path: Path, what: str) -> str:
    if not path.is_file():
        raise NotFound(f"{what}: no such file {path}")
    return str(path.resolve())


def start_superlink(
    work: Path,
    *,
    port: int | None = None,
    wait: float = 60.0,
    tls: TlsFiles | None = None,
    supernode_auth: bool = False,
    host: str = "127.0.0.1",
) -> Service:
    """Start a SuperLink on ``host`` under ``work`` and wait for ``/health``.

    Without ``tls`` it is insecure (loopback only). With ``tls`` (CA,
    certificate, key) it serves TLS; ``supernode_auth`` then admits only
    SuperNodes whose public key was registered (:func:`register_supernode`).
    """
    if supernode_auth and tls is None:
        raise InvalidInput("SuperNode authentication needs TLS (give the certificates)")
    port = port or free_port()
    if tls is None:
        security = ["--insecure"]
    else:
        security = ["--ssl-ca-certfile", _readable(tls.ca_cert, "--tls-dir"),
                    "--ssl-certfile", _readable(tls.server_cert, "--tls-dir"),
                    "--ssl-keyfile", _readable(tls.server_key, "--tls-dir")]  # fmt: skip
        if supernode_auth:
            security.append("--enable-supernode-auth")
    cmd = [_tool("flower-superlink"), *security, "--host", host, "--port", str(port),
           "--disable-runtime-dependency-installation"]  # fmt: skip
    svc = _spawn("superlink", cmd, home=work / "superlink-home", log_path=work / "superlink.log")
    svc.address = f"{host}:{port}"
    scheme = "http" if tls is None else "https"
    verify: bool | ssl.SSLContext = True
    if tls is not None:
        verify = ssl.create_default_context(cafile=str(tls.ca_cert))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not svc.alive():
            svc.stop()
            raise TransportError(f"the SuperLink exited at start (log: {svc.log_path})")
        try:
            url = f"{scheme}://{svc.address}/health"
            if httpx.get(url, timeout=1.0, verify=verify).status_code == 200:
                return svc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    svc.stop()
    raise TransportError(f"the SuperLink did not become healthy within {wait:g} s")


def start_supernode(
    config: Path,
    *,
    superlink: str,
    work: Path,
    port: int | None = None,
    root_ca: Path | None = None,
    auth_key: Path | None = None,
) -> Service:
    """Start a SuperNode for the node in ``config`` (``node.toml``), dialling ``superlink``.

    The config is checked first, so a bad one fails here with one line.
    ``root_ca`` (the federation CA certificate) makes it dial with TLS, else
    insecure (loopback only); ``auth_key`` is its OpenSSH ECDSA private key
    for SuperNode authentication (the SuperLink must know the public key).
    Arguments not given are taken from the node's ``[transport]`` table.
    """
    from medhaven.federation.node import NodeConfig

    node = NodeConfig.load(config)
    root_ca = root_ca or node.transport.superlink_ca
    auth_key = auth_key or node.transport.auth_key
    port = port or free_port()
    abs_config = str(config.resolve())
    if '"' in abs_config or "\\" in abs_config:
        raise InvalidInput(f"--config: {config}: the path may not hold quotes or backslashes")
    if auth_key is not None and root_ca is None:
        raise InvalidInput("SuperNode authentication needs TLS (give the CA certificate)")
    security = ["--insecure"]
    if root_ca is not None:
        security = ["--root-certificates", _readable(root_ca, "--root-ca")]
    if auth_key is not None:
        security += ["--auth-supernode-private-key", _readable(auth_key, "--auth-key")]
    cmd = [_tool("flower-supernode"), *security, "--superlink", superlink,
           "--port", str(port), "--node-config", f'config="{abs_config}"']  # fmt: skip
    home = work / f"supernode-{node.name}"
    svc = _spawn(f"supernode {node.name}", cmd, home=home, log_path=home / "supernode.log")
    svc.address = f"127.0.0.1:{port}"
    return svc


def register_supernode(
    public_key: Path, *, superlink: str, name: str, root_ca: Path, work: Path
) -> dict[str, Any]:
    """Register a SuperNode's public key at a SuperLink with authentication on.

    Runs ``flwr supernode register KEY.pub CONNECTION --name NAME --format json``
    (over TLS, verified against ``root_ca``); Flower's JSON answer.
    """
    key = _readable(public_key, "--public-key")
    home = work / "flwr-register-home"
    write_connection(home, superlink, root_ca=root_ca)
    doc: dict[str, Any] = _flwr(["supernode", "register", key, CONNECTION, "--name", name,
                                 "--format", "json"], home, 60)  # fmt: skip
    if not doc.get("success", False):
        text = str(doc.get("error-message", "the SuperLink refused the key"))
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith("Using SuperLink")]
        raise TransportError(f"flwr supernode register failed at {superlink}: "
                             f"{lines[0][:200] if lines else 'refused'}")  # fmt: skip
    return doc


def stop_on_sigterm() -> None:
    """Turn SIGTERM into ``KeyboardInterrupt``, so a service's ``finally`` stops its children.

    Flower children run in their own process groups: a parent killed without
    running its cleanup would leave them behind.
    """

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)


def _toml_value(value: str | int | float) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    return repr(value)


def write_run_config(path: Path, values: dict[str, str | int | float]) -> None:
    """Write flat ``key = value`` TOML (strings, ints, floats) for ``flwr run --run-config``."""
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_connection(home: Path, superlink: str, *, root_ca: Path | None = None) -> None:
    """Name the SuperLink for the ``flwr`` CLI in ``$FLWR_HOME/config.toml``.

    Insecure (loopback) without ``root_ca``; with it, TLS verified against that CA.
    """
    home.mkdir(parents=True, exist_ok=True)
    security = "insecure = true"
    if root_ca is not None:
        security = f"root-certificates = {json.dumps(str(root_ca.resolve()))}"
    text = (f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
            f"address = {json.dumps(superlink)}\n{security}\n")  # fmt: skip
    (home / "config.toml").write_text(text, encoding="utf-8")


def _flwr(args: list[str], home: Path, timeout: float) -> Any:
    try:
        done = subprocess.run(  # noqa: S603 - the flwr executable, no shell
            [_tool("flwr"), *args], env=child_env(home), cwd=home, capture_output=True,
            timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise TransportError(f"flwr {args[0]}: no answer within {timeout:g} s") from None
    text = done.stdout.decode("utf-8", errors="replace")
    try:
        return json.loads(text[text.index("{") :])
    except ValueError:
        raise TransportError(f"flwr {args[0]}: unexpected output (exit {done.returncode})",
                             detail=text[-2000:]) from None  # fmt: skip


def _run_status(home: Path, run_id: int) -> str:
    doc = _flwr(["ls", CONNECTION, "--run-id", str(run_id), "--format", "json"], home, 30)
    runs = doc.get("runs") or []
    return str(runs[0].get("status", "")) if runs else ""


def submit(
    signed_job: str,
    *,
    superlink: str,
    min_nodes: int = 1,
    timeout: float = 60.0,
    wait_nodes: float = 20.0,
    nodes_cache: Path | None = None,
    root_ca: Path | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Run one signed job over the SuperLink at ``superlink``; the ServerApp's result document.

    ``only``: ask just these targets (the hub collecting results its nodes held).

    ``root_ca``: the federation CA certificate, for a SuperLink that serves TLS.

    ``nodes_cache`` (a JSON file the ServerApp keeps) remembers which Flower
    node is which hospital, so a warm network skips the hello round.

    Raises :class:`TransportError` when the run cannot start or ends without
    a result (e.g. no SuperLink there, or the ServerApp failed).
    """
    if min_nodes < 1:
        raise InvalidInput("--min-nodes: must be at least 1")
    with tempfile.TemporaryDirectory(prefix="medhaven-run-") as tmp:
        work = Path(tmp)
        home = work / "flwr-home"
        write_connection(home, superlink, root_ca=root_ca)
        job_path, result_path = work / "job.json", work / "result.json"
        job_path.write_text(signed_job, encoding="utf-8")
        overrides = work / "run-config.toml"
        write_run_config(overrides, {"job-path": str(job_path), "result-path": str(result_path),
                                     "min-nodes": min_nodes, "timeout": float(timeout),
                                     "wait-nodes": float(wait_nodes),
                                     "nodes-cache": str(nodes_cache.resolve()) if nodes_cache
                                     else "",
                                     "only-nodes": json.dumps(only) if only is not None
                                     else ""})  # fmt: skip
        started = _flwr(["run", str(APP_DIR), CONNECTION, "--format", "json",
                         "--run-config", str(overrides)], home, 60)  # fmt: skip
        if not started.get("success") or "run-id" not in started:
            text = str(started.get("error-message", "the SuperLink refused the run"))
            lines = [ln for ln in text.splitlines() if ln and not ln.startswith("Using SuperLink")]
            reason = lines[0][:200] if lines else "the SuperLink refused the run"
            raise TransportError(f"flwr run failed at {superlink}: {reason}")
        run_id = int(started["run-id"])
        # the result file is the fast path; `flwr ls` (a Python start, a CPU-second per call,
        # which a busy host would take from the run itself) only catches a failed run
        limit = wait_nodes + timeout + 60
        deadline = time.monotonic() + limit
        next_check = time.monotonic() + 8.0
        while time.monotonic() < deadline:
            if result_path.is_file():
                doc: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
                doc["run_id"] = run_id
                return doc
            if time.monotonic() >= next_check:
                status = _run_status(home, run_id)
                if status.startswith("finished") and not result_path.is_file():
                    raise TransportError(f"run {run_id} ended ({status}) without a result")
                next_check = time.monotonic() + 5.0
            time.sleep(0.05)
        raise TransportError(f"run {run_id}: no result within {limit:g} s")


def load_signed_job(path: Path) -> str:
    """Read a signed job file (one line error when missing or not text)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"--job: no such file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"--job: cannot read {path} as UTF-8 text") from exc


__all__ = [
    "CHILD_ENV",
    "Service",
    "child_env",
    "free_port",
    "load_signed_job",
    "register_supernode",
    "start_superlink",
    "start_supernode",
    "stop_on_sigterm",
    "submit",
    "write_connection",
    "write_run_config",
]
