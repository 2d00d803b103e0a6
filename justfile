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

# Everything pre-commit checks: schema drift, specs, generated/ in sync, the Rego under OPA's tools
check: rego-lint
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
test: check lint opa-test ts-test
    {{bin}}/pytest -q

# Rego tests (rego/*_test.rego): `opa test --coverage` (the project's threshold) with the OPA CLI
# scripts/setup builds, else the embedded OPA engine
opa-test:
    {{bin}}/gatewayctl test-policies

# The Rego (rego/, deploy/policy/) under OPA's own tools, as scripts/setup builds them into
# .tools/bin: `opa check --strict`, `opa fmt` (nothing to format: `opa fmt -w` fixes it), Regal
# (.regal/config.yaml). Without them (no Go) it says so; in CI that is an error.
rego-lint:
    #!/usr/bin/env bash
    set -euo pipefail
    cd {{justfile_directory()}}
    for tool in opa regal; do
      if [ ! -x ".tools/bin/$tool" ]; then
        echo "rego-lint: no .tools/bin/$tool (scripts/setup builds it with Go): the Rego is not linted" >&2
        [ -z "${CI:-}" ] || exit 1
        exit 0
      fi
    done
    .tools/bin/opa check --strict rego deploy/policy
    .tools/bin/opa fmt --list --fail rego deploy/policy
    .tools/bin/regal lint rego deploy/policy

# The labelled corpora of tests/corpus/ (tests/corpus/SOURCES.md)
corpora := "--corpus tests/corpus/attacks.jsonl --corpus tests/corpus/benign.jsonl --corpus tests/corpus/own_nearmiss.jsonl --corpus tests/corpus/pii.jsonl"

# Replay the corpora through the compiled policies: caught and flagged per label, split, source and
# rule, by case id (texts only with --show-texts; --json for machines)
policy-replay *args:
    {{bin}}/gatewayctl policy replay {{corpora}} {{args}}

# Every decision of the corpora that the working tree's policies change against a git revision
# (exit 0: none, 3: some, 1: a side does not compile); --markdown for a pull-request comment
policy-diff base="HEAD" *args:
    {{bin}}/gatewayctl policy diff {{corpora}} --base {{base}} {{args}}

# Helm chart and image: for every environment from generated/<env>/helm/values.yaml, `helm lint
# --strict` and `helm template` (Helm's CLI), the manifests through `kubeconform -strict` and
# conftest with the deployment rules of deploy/policy/ (their own `opa test` too); the values
# schema, mutated renders and snapshots with Helm's Go SDK; hadolint the Dockerfile, test the
# entrypoint (part of `just test` too)
helm-check:
    {{bin}}/pytest -q tests/deploy

# TypeScript client adapter: compile with tsc (strict) and run its node --test suite
ts-test:
    cd clients/typescript && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm test --silent

# Benchmarks (results go to docs/benchmarks.md)
bench-compile:
    {{bin}}/python bench/compile.py

# Policy decisions: prompt and output on 0.5/4/32 KB next to a trivial one-rule policy and the
# pre-detection policies (139a39b) in the same run, and the cost of each detection family
bench-policy:
    {{bin}}/python bench/policy.py --base-rev 139a39b --families

# Detection on the held-out corpora next to LiteLLM's filters and offline scanners from PyPI
bench-detection-peers:
    {{bin}}/python bench/detection_peers.py

# Gateway overhead: LiteLLM alone vs gateway -> LiteLLM at 1 and 50 clients (~2 min)
bench-gateway:
    {{bin}}/python bench/gateway.py

# Soak: 10 minutes at 100 clients, mixed (clean, blocked, streamed, abandoned, embeddings): errors,
# RSS growth, file descriptors, admission slots (not part of CI)
bench-soak:
    {{bin}}/python bench/soak.py

# The AI stack (Redis, a LiteLLM proxy, the policy gateway on 8080): through the generated compose
# file when a Docker engine answers, else as local processes with a fake model provider (.stack/)
ai-stack-up env="dev":
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
      docker compose -f generated/{{env}}/docker-compose.yml --profile ai-governance up -d --wait; \
    else \
      {{bin}}/python tests/integration/gateway_stack.py up --env {{env}}; \
    fi

# Stop what ai-stack-up started (local processes by their recorded pids, or the compose project)
ai-stack-down env="dev":
    if [ -f .stack/pids.json ]; then \
      {{bin}}/python tests/integration/gateway_stack.py down; \
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
      docker compose -f generated/{{env}}/docker-compose.yml --profile ai-governance down; \
    else \
      echo "no stack is up"; \
    fi

# The gateway's integration suite: real Redis, a real LiteLLM proxy, gatewayctl serve (own ports)
ai-stack-test:
    {{bin}}/pytest -q tests/integration/test_policy_gateway_litellm.py
