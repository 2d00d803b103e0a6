"""gatewayctl: thin command-line edge. Parses arguments, runs the pipeline, prints, exits.

Exit codes: 0 success, 1 spec or policy errors (or stale output with --check), 2 usage errors;
`policy diff` exits 3 when decisions change (0: none change).
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


DISTRIBUTION = "llm-gateway-policy"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        click.echo(f"gatewayctl {version(DISTRIBUTION)}")
    except PackageNotFoundError:
        click.echo(f"gatewayctl (version unknown: {DISTRIBUTION} is not installed; run scripts/setup)")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="print the version of gatewayctl and exit")
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
        from compiler.emit._json import dump_json

        click.echo(dump_json(table), nl=False)
        return
    for env_name, rows in table.items():
        click.echo(f"{env_name}:")
        for row in rows:
            name = row["service"] if row["port"] == "main" else f"{row['service']} ({row['port']})"
            click.echo(f"  {row['host_port']:>5} -> {row['container_port']:<5} {name}")


@main.command()
@click.option("--check", is_flag=True, help="exit 1 when schemas/ is out of date")
def schema(check: bool) -> None:
    """Regenerate schemas/ (the spec language, a LiteLLM config) from the models."""
    from compiler.schema import schemas

    stale = []
    for rel, wanted in schemas().items():
        path = _root() / rel
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == wanted:
            click.echo(f"{rel} is up to date" if check else f"wrote {rel}")
        elif check:
            stale.append(rel)
            click.echo(f"{rel} is stale: run `gatewayctl schema`", err=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted, encoding="utf-8")
            click.echo(f"wrote {rel}")
    if stale:
        sys.exit(1)


@main.command(name="litellm-check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@user_errors
def litellm_check(paths: tuple[Path, ...]) -> None:
    """Validate LiteLLM proxy config files (any, hand-written too) against LiteLLM's typed surface."""
    from compiler.litellm_surface.check import check_config

    problems = [p for path in paths for p in check_config(path, _display(path.resolve(), Path.cwd()))]
    if any(p.severity == "error" for p in problems):
        raise SpecErrors(problems)
    _print_problems(sorted(problems, key=SpecError.sort_key))
    click.echo(f"LiteLLM config OK: {len(paths)} file{'s' if len(paths) != 1 else ''}")


@main.group()
def policy() -> None:
    """The OPA policies: evaluate a decision, replay a corpus, diff against a revision, lock versions."""


_env_option = click.option("--env", "env_name", required=True, help="environment whose compiled policies to use")
_policy_option = click.option("--policy", "policy_name", type=click.Choice(["prompt", "output"]), default="prompt",
                              show_default=True, help="which policy decides")
_input_option = click.option("--input", "input_file", type=click.File("r", encoding="utf-8"), default="-",
                             show_default=True,
                             help='JSON file (chat-completions request or {"text": ...}); - is stdin')


@policy.command(name="eval")
@_env_option
@_policy_option
@_input_option
@user_errors
def policy_eval(env_name: str, policy_name: str, input_file: Any) -> None:
    """Print the decision as JSON (exit 0 whatever it is; non-zero only for errors)."""
    from compiler.emit._json import dump_json

    decision, _ = _decide(env_name, policy_name, input_file)
    click.echo(dump_json(decision), nl=False)


@main.command()
@_env_option
@_policy_option
@_input_option
@user_errors
def explain(env_name: str, policy_name: str, input_file: Any) -> None:
    """Print the decision for people: each rule, its category and the matched span, masked."""
    from compiler.policy_eval import explain as render

    decision, document = _decide(env_name, policy_name, input_file)
    click.echo(render(decision, document, policy_name), nl=False)


def _decide(env_name: str, policy_name: str, input_file: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from compiler.policy_eval import evaluate, read_input
    from runtime.policy import BundleError, PolicyEvaluationError

    document = read_input(input_file.read(), input_file.name, policy_name)
    try:
        return evaluate(_root(), env_name, policy_name, document), document
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except (BundleError, PolicyEvaluationError) as exc:
        click.echo(f"gatewayctl: {exc}", err=True)
        sys.exit(1)


_corpus_option = click.option("--corpus", "corpora", multiple=True, required=True,
                              type=click.Path(dir_okay=False, path_type=Path),
                              help="JSON Lines corpus (repeatable), e.g. tests/corpus/attacks.jsonl")

# `policy diff` found decisions that change (0: none; 1 and 2 keep their meaning).
EXIT_CHANGES = 3


@policy.command(name="replay")
@_corpus_option
@click.option("--env", "env_name", default="prod", show_default=True, help="environment whose policies to compile")
@click.option("--policy", "policy_name", type=click.Choice(["prompt", "output"]), default=None,
              help="only the cases of this policy [default: every case]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable report (ids of every case per label and rule)")
@click.option("--show-texts", is_flag=True, help="also print the texts of benign cases with a violation")
@user_errors
def policy_replay(corpora: tuple[Path, ...], env_name: str, policy_name: str | None, as_json: bool,
                  show_texts: bool) -> None:
    """Every case of a labelled corpus through the compiled policies (as in enforce): what was
    caught, what was flagged by mistake, per label, source and rule. Cases by id; texts only
    with --show-texts."""
    from compiler import policy_replay as pr

    cases = [c for c in pr.load_corpus(list(corpora)) if policy_name in (None, c.policy)]
    try:
        compiled = pr.compiled_store(_root(), env_name)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    rep = pr.report(pr.replay(compiled, cases), show_texts=show_texts)
    if as_json:
        from compiler.emit._json import dump_json

        click.echo(dump_json(rep), nl=False)
    else:
        click.echo(pr.render_report(rep, show_texts=show_texts), nl=False)


@policy.command(name="diff")
@_corpus_option
@click.option("--base", default="HEAD", show_default=True, help="git revision whose policies to compare with")
@click.option("--env", "env_name", default="prod", show_default=True, help="environment whose policies to compile")
@click.option("--markdown", is_flag=True, help="a Markdown report for a pull-request comment")
@user_errors
def policy_diff(corpora: tuple[Path, ...], base: str, env_name: str, markdown: bool) -> None:
    """Replay a corpus through the policies of --base and of the working tree and report every
    decision that changes (newly blocked, newly allowed, other rules), by label and rule.
    Exit 0 when none changes, 3 when some do, 1 when either side cannot be compiled."""
    from compiler import policy_replay as pr

    cases = pr.load_corpus(list(corpora))
    try:
        head = pr.compiled_store(_root(), env_name)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    before = pr.replay(pr.compiled_at(_root(), base, env_name), cases)
    found = pr.changes(before, pr.replay(head, cases))
    render = pr.render_diff_markdown if markdown else pr.render_diff
    click.echo(render(found, base, len(cases)), nl=False)
    if found:
        sys.exit(EXIT_CHANGES)


@policy.command(name="lock")
@user_errors
def policy_lock() -> None:
    """Record each policy's version and content digest in rego/policies.lock.json."""
    from compiler.load import load_specs
    from compiler.policy_versions import LOCK_PATH, lock
    from compiler.validate import validate

    loaded = load_specs(_root())
    spec = validate(loaded, check_lock=False)
    _, problems = lock(loaded, spec.environments)
    if problems:
        raise SpecErrors(problems)
    policies = spec.environments[0].document.policies
    click.echo(f"wrote {LOCK_PATH}: prompt {policies.prompt.version}, output {policies.output.version}")


@main.command(name="test-policies")
@click.option("--env", "env_name", default=None,
              help="environment whose compiled data the tests read [default: prod, else the first]")
@user_errors
def test_policies(env_name: str | None) -> None:
    """Run the Rego tests (test_* rules of rego/*_test.rego): with `opa test --coverage` when there is
    an OPA CLI (.tools/bin/opa, $OPA_BINARY or PATH), else with the embedded OPA engine. Exit 1 on
    any failure, or coverage below the project's threshold."""
    from compiler import policy_tests
    from compiler.emit.opa_bundle import bundle_files
    from compiler.load import load_specs
    from compiler.plan import build_plan
    from compiler.validate import validate

    loaded = load_specs(_root())
    plan = build_plan(validate(loaded, check_lock=False))
    names = [e.name for e in plan.environments]
    chosen = env_name or ("prod" if "prod" in names else names[0])
    if chosen not in names:
        raise click.UsageError(f"unknown environment {chosen!r} (known: {', '.join(names)})")
    data_json = bundle_files(next(e for e in plan.environments if e.name == chosen))["data.json"]
    opa = policy_tests.opa_binary()
    coverage_error = ""
    if opa:
        run = policy_tests.run_opa_cli(opa, loaded.rego_sources, data_json)
        results, coverage_error = run.results, run.coverage_error
        engine = f"opa test ({opa})"
        if run.coverage is not None:
            engine += f"; coverage {run.coverage:.2f} %, threshold {policy_tests.COVERAGE_THRESHOLD} %"
    else:
        results = policy_tests.run_embedded(loaded.rego_sources, json.loads(data_json))
        engine = "embedded OPA engine; no OPA CLI, no coverage"
    for r in results:
        where = f" ({r.case.path}:{r.case.line})" if r.case.path else ""
        click.echo(f"{'PASS' if r.passed else 'FAIL'}  {r.case.rule}{where}" + ("" if r.passed else f": {r.detail}"))
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed (data of {chosen}; {engine})")
    if coverage_error:
        click.echo(f"error: {coverage_error} (hint: add a test_ rule that evaluates these lines)", err=True)
    if failed or not results or coverage_error:
        sys.exit(1)


@main.group()
def bundle() -> None:
    """Signed policy bundles: sign a compiled bundle in the release step, verify one as the gateway will."""


_generated_option = click.option(
    "--generated", "generated_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="directory holding <env>/gateway.json and <env>/opa/bundle.tar.gz [default: <project>/generated]")
_bundle_option = click.option("--bundle", "bundle_path", type=click.Path(dir_okay=True, path_type=Path),
                              default=None, help="the bundle [default: <generated>/<env>/opa/bundle.tar.gz]")


@bundle.command(name="sign")
@click.option("--env", "env_name", required=True, help="environment whose compiled bundle to sign")
@click.option("--key-env", default="POLICY_BUNDLE_SIGNING_KEY", show_default=True,
              help="environment variable holding the PEM private key (HS*: the shared secret)")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="read the private key from this file instead (a secret mount; never commit it)")
@click.option("--key-id", default=None, help="the key id; must be the one the specs name [default: theirs]")
@_generated_option
@_bundle_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="where to write the signed bundle [default: over the bundle]")
def bundle_sign(env_name: str, key_env: str, key_file: Path | None, key_id: str | None,
                generated_dir: Path | None, bundle_path: Path | None, out: Path | None) -> None:
    """Add .signatures.json (OPA's bundle signing) to a compiled bundle, with the key the specs name."""
    import os

    from compiler.bundle_sign import SignError, sign_bundle, trust_settings

    generated = generated_dir or _root() / "generated"
    path = bundle_path or generated / env_name / "opa" / "bundle.tar.gz"
    if key_file is not None:
        try:
            material, source = key_file.read_text(encoding="ascii"), str(key_file)
        except (OSError, UnicodeDecodeError) as exc:
            raise click.UsageError(f"--key-file {key_file}: cannot read it ({type(exc).__name__})") from None
    else:
        material, source = os.environ.get(key_env, ""), key_env
        if not material:
            raise click.UsageError(f"{key_env} is not set: export the signing key (PEM) or pass --key-file")
    try:
        signed = sign_bundle(path, out or path, trust_settings(generated, env_name), material, source, key_id=key_id)
    except SignError as exc:
        click.echo(f"gatewayctl bundle sign: {exc}", err=True)
        sys.exit(1)
    click.echo(f"signed {_display(signed.path, _root())}: revision {signed.revision}, key id {signed.key_id} "
               f"({signed.algorithm}), checked with {signed.checked_against}")
    click.echo(f"sha256 {signed.sha256}  (helm: --set checksums.policyBundle={signed.sha256})")


@bundle.command(name="verify")
@click.option("--env", "env_name", required=True, help="environment whose gateway.json says what is required")
@_generated_option
@_bundle_option
def bundle_verify(env_name: str, generated_dir: Path | None, bundle_path: Path | None) -> None:
    """Check a bundle as the gateway will before loading it: digests, signature and key id, modes."""
    from compiler.bundle_sign import SignError, trust_settings, verify_bundle

    generated = generated_dir or _root() / "generated"
    path = bundle_path or generated / env_name / "opa" / "bundle.tar.gz"
    try:
        verified = verify_bundle(path, trust_settings(generated, env_name))
    except SignError as exc:
        click.echo(f"gatewayctl bundle verify: {exc}", err=True)
        sys.exit(1)
    signed = f"signed with key id {verified.signed_by}" if verified.signed_by else "unsigned"
    modes = ", ".join(f"{name} {mode}" for name, mode in verified.modes.items())
    click.echo(f"{_display(path, _root())}: revision {verified.revision}, {signed}, {modes}; "
               f"sha256 {verified.sha256}")


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
