"""gatewayctl: thin command-line edge. Parses arguments, runs the pipeline, prints, exits.

Exit codes: 0 success, 1 spec or policy errors (or stale output with --check), 2 usage errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from compiler.errors import SpecError, SpecErrors

F = TypeVar("F", bound=Callable[..., Any])


def _print_problems(problems: Iterable[SpecError]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


def user_errors(func: F) -> F:
    """The one place that turns user mistakes into messages and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpecErrors as exc:
            _print_problems(exc.problems)
            n = len(exc.errors)
            click.echo(f"{n} error{'s' if n != 1 else ''} found", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="project root holding specs/, rego/ and generated/")
@click.pass_context
def main(ctx: click.Context, project_dir: Path) -> None:
    """Compile gateway specs into LiteLLM, compose, env and policy artifacts."""
    ctx.obj = project_dir.resolve()


def _root() -> Path:
    root = click.get_current_context().obj
    assert isinstance(root, Path)
    return root


@main.command()
@user_errors
def validate() -> None:
    """Check specs/ (schema, references, ports, production invariants). Fast; for pre-commit."""
    from compiler.pipeline import check

    spec = check(_root())
    _print_problems(spec.warnings)
    click.echo(f"specs OK: {len(spec.environments)} environments")


@main.command(name="compile")
@click.option("--env", "envs", multiple=True, help="only (re)write these environments (repeatable)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output directory [default: <project>/generated]")
@click.option("--check", is_flag=True, help="write nothing; exit 1 with a diff when the output is stale")
@user_errors
def compile_cmd(envs: tuple[str, ...], out: Path | None, check: bool) -> None:
    """Compile specs/ into generated/ (atomically: all files or none)."""
    from compiler.pipeline import compile_project
    from compiler.write import diff_tree, read_tree, write_file_atomic, write_tree

    root = _root()
    out_dir = (out if out is not None else root / "generated").resolve()
    try:
        result = compile_project(root, out_dir, envs)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _print_problems(result.warnings)
    label = _display(out_dir, root)
    current = read_tree(out_dir)
    docs_current = {p: (root / p).read_bytes() for p in result.documents}
    if check:
        diff = diff_tree(current, result.files, label) + diff_tree(docs_current, result.documents, ".")
        if diff:
            sys.stdout.writelines(diff)
            click.echo(f"{label}/ is stale: run `gatewayctl compile` and commit the result", err=True)
            sys.exit(1)
        click.echo(f"{label}/ is up to date ({len(result.files)} files)")
        return
    changed = sum(1 for p, data in result.files.items() if current.get(p) != data)
    removed = len(set(current) - set(result.files))
    if changed or removed:
        write_tree(out_dir, result.files)
    for rel, data in result.documents.items():
        if docs_current[rel] != data:
            write_file_atomic(root / rel, data)
    envs_done = ", ".join(envs) if envs else ", ".join(e.name for e in result.plan.environments)
    click.echo(f"compiled {envs_done}: {len(result.files)} files in {label}/ "
               f"({changed} changed, {removed} removed)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@user_errors
def ports(as_json: bool) -> None:
    """Print the port registry (host and container port of every service, per environment)."""
    from compiler.pipeline import check
    from compiler.ports import claims

    spec = check(_root())
    table = {
        env.name: [
            {"service": c.service, "port": c.name, "host_port": c.host_port, "container_port": c.container_port}
            for c in sorted(claims(env.document), key=lambda c: c.host_port)
        ]
        for env in spec.environments
    }
    if as_json:
        click.echo(json.dumps(table, indent=2, sort_keys=True))
        return
    for env_name, rows in table.items():
        click.echo(f"{env_name}:")
        for row in rows:
            name = row["service"] if row["port"] == "main" else f"{row['service']} ({row['port']})"
            click.echo(f"  {row['host_port']:>5} -> {row['container_port']:<5} {name}")


@main.command()
@click.option("--check", is_flag=True, help="exit 1 when schemas/ is out of date")
def schema(check: bool) -> None:
    """Regenerate schemas/spec.schema.json from the spec models."""
    from compiler.schema import SCHEMA_PATH, spec_schema

    path = _root() / SCHEMA_PATH
    wanted = spec_schema()
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if check:
        if current != wanted:
            click.echo(f"{SCHEMA_PATH} is stale: run `gatewayctl schema`", err=True)
            sys.exit(1)
        click.echo(f"{SCHEMA_PATH} is up to date")
        return
    if current != wanted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted, encoding="utf-8")
    click.echo(f"wrote {SCHEMA_PATH}")


@main.command()
def doctor() -> None:
    """Tools present, specs valid, generated/ in sync, registry ports free on this host."""
    from compiler.doctor import run_doctor

    sys.exit(run_doctor(_root()))


@main.command()
@click.option("--env", "env", required=True, help="compiled environment to serve (generated/<env>/)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind")
@click.option("--port", type=int, default=None, help="port to bind [default: listen_port of gateway.json]")
@click.option("--generated", "generated_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="directory holding <env>/gateway.json [default: <project>/generated]")
def serve(env: str, host: str, port: int | None, generated_dir: Path | None) -> None:
    """Run the policy gateway from generated/<env>/ (refuses to start, before binding, with one line)."""
    # Lazy: only `serve` pays for the HTTP stack, OpenTelemetry and the policy engine.
    from runtime.gateway.serve import StartupError
    from runtime.gateway.serve import serve as run

    try:
        run(env, host=host, port=port, generated_dir=generated_dir or _root() / "generated")
    except StartupError as exc:
        click.echo(f"gatewayctl serve: refusing to start: {exc}", err=True)
        sys.exit(1)


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
