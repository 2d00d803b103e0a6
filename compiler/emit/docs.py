"""Markdown for people: the port allocation table with a Mermaid diagram, the policy versions, and
the endpoints each environment exposes."""

from __future__ import annotations

import re

from compiler.plan import EnvPlan, Plan


def _node(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def ports_table(plan: Plan) -> str:
    envs = plan.environments
    head = "| Service | Role | Container port | " + " | ".join(f"Host port ({e.name})" for e in envs)
    head += " | Health | Profiles |"
    rule = "|---|---|---:|" + "---:|" * len(envs) + "---|---|"
    rows = [head, rule]
    first = envs[0]
    for svc in first.services:
        per_env = {e.name: next((s for s in e.services if s.name == svc.name), None) for e in envs}
        hosts = " | ".join(str(s.port) if s else "—" for s in per_env.values())
        health = f"`{svc.health.path}`" if svc.health and svc.health.path else ("command" if svc.health else "—")
        profiles = ", ".join(f"`{p}`" for p in svc.profiles) or "—"
        rows.append(f"| {svc.name} | {svc.role} | {svc.container_port} | {hosts} | {health} | {profiles} |")
        for extra in svc.extra_ports:
            extra_hosts = " | ".join(
                str(next((p.host_port for p in s.extra_ports if p.name == extra.name), "—")) if s else "—"
                for s in per_env.values()
            )
            rows.append(f"| {svc.name} ({extra.name}) | {svc.role} | {extra.container_port} | {extra_hosts} | — | — |")
    return "\n".join(rows) + "\n"


def request_path_diagram(env: EnvPlan) -> str:
    gateway = env.service_with_role("policy-gateway")
    provider = env.service_with_role("llm-provider")
    lines = ["```mermaid", "flowchart LR", '  client(["client application"])']
    for svc in env.services:
        lines.append(f'  {_node(svc.name)}["{svc.name}<br/>:{svc.port}"]')
    if gateway and provider:
        lines.append(f"  client -->|/v1/chat/completions| {_node(gateway.name)}")
        lines.append(f"  {_node(gateway.name)} -->|policy-checked| {_node(provider.name)}")
        lines.append(f"  client -.->|gateway disabled: dev only| {_node(provider.name)}")
    for svc in env.services:
        for dep in svc.depends_on:
            if not (gateway and provider and svc.name == gateway.name and dep == provider.name):
                lines.append(f"  {_node(svc.name)} -.-> {_node(dep)}")
    for backend in env.backends:
        lines.append(f'  {_node("backend_" + backend.name)}[("{backend.name}<br/>{", ".join(backend.capabilities)}")]')
        if provider:
            lines.append(f"  {_node(provider.name)} --> {_node('backend_' + backend.name)}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def policy_table(plan: Plan) -> str:
    envs = plan.environments
    rows = ["| Policy | Version | " + " | ".join(f"Mode ({e.name})" for e in envs) + " |",
            "|---|---|" + "---|" * len(envs)]
    for policy in envs[0].policies:
        modes = " | ".join(e.policy(policy.name).mode for e in envs)
        rows.append(f"| {policy.name} | {policy.version} | {modes} |")
    return "\n".join(rows) + "\n"


def endpoints_section(env: EnvPlan) -> str:
    """What one environment exposes: each endpoint, its routes, and what serves it."""
    rows = ["| Endpoint | Routes | Capability | Served by |", "|---|---|---|---|"]
    for e in env.endpoints:
        routes = "<br>".join(f"`{r}`" for r in e.routes)
        names = ", ".join(f"`{n}`" for n in e.served_by)
        if e.capability == "mcp":
            served = f"MCP servers {names}"
        elif e.capability == "a2a":
            served = f"agents {names}"
        elif e.capability is None and env.files_backend is not None:
            served = f"backend `{env.files_backend.name}`; batch lines name {names}"
        else:
            served = names
        rows.append(f"| `{e.name}`: {e.title} | {routes} | {e.capability or '—'} | {served} |")
    if env.enable_policy_gateway:
        how = "Clients call the policy gateway; any other endpoint answers 404 there."
    else:
        how = "The gateway is disabled: clients call the LiteLLM proxy, whose config serves what is listed here."
    return f"## {env.name}\n\n{how}\n\n" + "\n".join(rows) + "\n"


def ports_section(plan: Plan) -> str:
    return (f"{ports_table(plan)}\nRequest path (ports of environment `{plan.environments[0].name}`):\n\n"
            f"{request_path_diagram(plan.environments[0])}")


def render(plan: Plan) -> dict[str, str]:
    return {
        "docs/ports.md": f"# Port allocation\n\n{ports_section(plan)}",
        "docs/policies.md": f"# Policy versions\n\n{policy_table(plan)}",
        "docs/endpoints.md": "# Endpoints\n\nWhat each environment exposes (`gateway.endpoints` in the specs) "
        "and which models, MCP servers or agents serve it.\n\n"
        + "\n".join(endpoints_section(env) for env in plan.environments),
    }
