"""The whole pass: load → validate → plan → emit, with no writing (cli.py decides what to do)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.errors import SpecError
from compiler.load import load_specs
from compiler.validate import ValidatedSpec, validate

if TYPE_CHECKING:
    from compiler.plan import Plan

TECH_SPEC_DOC = "docs/specs/008-technical-specifications.md"


@dataclass(frozen=True)
class CompileResult:
    plan: Plan
    files: dict[str, bytes]  # relative to the output directory, manifest included
    documents: dict[str, bytes]  # docs outside generated/ whose marked regions changed
    warnings: tuple[SpecError, ...]


def check(root: Path) -> ValidatedSpec:
    return validate(load_specs(root))


def compile_project(root: Path, out_dir: Path, envs: tuple[str, ...] = ()) -> CompileResult:
    # The emitters here and in _documents are imported on use: `validate` (check) never needs them.
    from compiler.emit import render_all, render_helm
    from compiler.opa_wasm import add_wasm
    from compiler.plan import build_plan
    from compiler.write import finalize, read_tree

    spec = check(root)
    plan = build_plan(spec)
    rendered = add_wasm(render_all(plan), plan, previous=(out_dir, root / "generated"))
    rendered = dict(sorted({**rendered, **render_helm(plan, rendered)}.items()))
    if envs:
        unknown = set(envs) - {e.name for e in plan.environments}
        if unknown:
            raise ValueError(f"unknown environment(s): {', '.join(sorted(unknown))}")
        others = {e.name for e in plan.environments} - set(envs)
        existing = read_tree(out_dir)
        rendered = {p: c for p, c in rendered.items() if p.split("/", 1)[0] not in others}
        rendered |= {p: c for p, c in existing.items() if p.split("/", 1)[0] in others}
    files = finalize(rendered, plan.specs_digest)
    return CompileResult(plan, files, _documents(root, plan), spec.warnings)


def _documents(root: Path, plan: Plan) -> dict[str, bytes]:
    """Docs people read in the repository, with the generated tables kept between markers."""
    from compiler.emit.docs import policy_table, ports_section
    from compiler.write import replace_marked_region

    out: dict[str, bytes] = {}
    path = root / TECH_SPEC_DOC
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        for name, body in (("ports", ports_section(plan)), ("policies", policy_table(plan))):
            text = replace_marked_region(text, name, body) or text
        out[TECH_SPEC_DOC] = text.encode("utf-8")
    return out
