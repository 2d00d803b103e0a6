# Recipes for people and CI. `just --list` shows them. CI (.ci/run and .github/workflows/ci.yml)
# calls the same recipes, so the two never disagree.
set shell := ["bash", "-euo", "pipefail", "-c"]

bin := justfile_directory() / ".venv/bin"

# Compile specs/ into generated/ (atomic; all environments)
compile:
    {{bin}}/gatewayctl compile

# Validate specs (schema, references, ports, production invariants)
validate:
    {{bin}}/gatewayctl validate

# Everything pre-commit checks: schema drift, specs, generated/ in sync
check:
    {{bin}}/gatewayctl schema --check
    {{bin}}/gatewayctl validate
    {{bin}}/gatewayctl compile --check

# Tools present, specs valid, generated/ in sync, registry ports free on this host
doctor:
    {{bin}}/gatewayctl doctor

# Lint and type-check the Python code
lint:
    {{bin}}/ruff check compiler runtime tests bench
    {{bin}}/mypy

# The whole test suite (what CI runs)
test: check ts-test
    {{bin}}/pytest -q

# Helm chart and image: render, lint and schema-check the chart for every environment from
# generated/<env>/helm/values.yaml (Helm's Go SDK), validate the manifests (kubernetes-validate),
# snapshot them; hadolint the Dockerfile, test the entrypoint (part of `just test` too)
helm-check:
    {{bin}}/pytest -q tests/deploy

# TypeScript client adapter: compile with tsc (strict) and run its node --test suite
ts-test:
    cd clients/typescript && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm test --silent

# Benchmarks (results go to docs/benchmarks.md)
bench-compile:
    {{bin}}/python bench/compile.py
