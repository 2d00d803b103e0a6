"""The real processes of the integration stack, as plain helpers: Redis, the fake LLM provider, a
LiteLLM proxy and the policy gateway (`gatewayctl serve`), each on a free 127.0.0.1 port, each
stopped by its pid (its own process group). The fixtures in conftest.py wrap these; other suites
and bench/gateway.py can import them directly (`sys.path` += tests/integration).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LITELLM_MASTER_KEY = "sk-litellm-test-master-0123456789"
CLIENT_KEYS = tuple(f"sk-client-{i:02d}" for i in range(40))


def _spec_key_values() -> dict[str, str]:
    """A value for each client key the example specs name (specs/identity.yaml): production refuses
    to start without them. Not among CLIENT_KEYS, so the tests' plain keys stay unnamed."""
    keys = (YAML(typ="safe").load((REPO / "specs" / "identity.yaml").read_text()) or {}).get("keys", {})
    return {str(k["key"]).removeprefix("os.environ/"): f"sk-spec-{name}" for name, k in sorted(keys.items())}


SPEC_KEY_VALUES = _spec_key_values()
FAKE_PROVIDER = Path(__file__).with_name("fake_provider.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop_process(process: subprocess.Popen[Any] | None) -> None:
    """SIGTERM the process group we started (by pid), SIGKILL if it lingers."""
    if process is None:
        return
    if process.stdout is not None:
        process.stdout.close()
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[Any]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: stopped as one, never by name
            **kw,
        )


def wait_http(url: str, process: subprocess.Popen[Any], log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url}: process exited {process.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout_s} s:\n{log.read_text()[-4000:]}")


# --- Redis ---------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[Any] | None = None
    password: str | None = None  # --requirepass, as the generated compose file starts it
    extra_args: tuple[str, ...] = ()  # e.g. ("--replicaof", "127.0.0.1", "6379")

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/setup installs Debian's redis-server)"
        self.process = spawn(
            # --dir: a replica's full sync writes dump.rdb there, and the next server started in the
            # same directory would load it
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.log.parent), *(["--requirepass", self.password] if self.password else []),
             *self.extra_args],
            self.log,
        )
        deadline = time.monotonic() + 10
        while not port_is_open(self.port):
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"redis-server did not listen:\n{self.log.read_text()}"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        stop_process(self.process)


@dataclass
class RedisSentinel:
    """A real Redis Sentinel (`redis-server <conf> --sentinel`) watching one master under `master_name`,
    with short timeouts so a killed master is failed over within seconds."""

    conf: Path  # written here; Sentinel rewrites it as it learns the topology
    master_port: int
    master_name: str = "gateway"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[Any] | None = None

    def start(self) -> RedisSentinel:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/setup installs Debian's redis-server)"
        self.conf.write_text(
            f"bind 127.0.0.1\nport {self.port}\n"
            f"sentinel monitor {self.master_name} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {self.master_name} 1000\n"
            f"sentinel failover-timeout {self.master_name} 5000\n"
        )
        log = self.conf.with_suffix(".log")
        self.process = spawn([binary, str(self.conf), "--sentinel"], log)
        deadline = time.monotonic() + 10
        while not port_is_open(self.port):
            assert self.process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"redis-sentinel did not listen:\n{log.read_text()}"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        stop_process(self.process)


# --- the fake provider ---------------------------------------------------------------------------


@dataclass
class FakeProviderProcess:
    base_url: str  # without /v1
    process: subprocess.Popen[Any]

    def control(self, **state: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.base_url}/_control", json=state, timeout=5)
        r.raise_for_status()
        answer: dict[str, Any] = r.json()
        return answer

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_reset", timeout=5).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = httpx.get(f"{self.base_url}/_requests", timeout=5).json()
        return answer

    def inflight(self) -> dict[str, int]:
        """{"now": requests being answered, "peak": the most at once since the last reset}."""
        answer: dict[str, int] = httpx.get(f"{self.base_url}/_inflight", timeout=5).json()
        return answer

    def script(self, path: str, **answer: Any) -> None:
        """Queue an exact raw answer for `path` (see fake_provider.py: status, headers, body, chunks...)."""
        httpx.post(f"{self.base_url}/_script", json={"path": path, **answer}, timeout=5).raise_for_status()

    def saw(self, text: str) -> bool:
        """Whether `text` reached the provider anywhere: a path, header, body or uploaded file."""
        return text in json.dumps(self.requests(), ensure_ascii=False)


def start_fake_provider(log: Path) -> FakeProviderProcess:
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, str(FAKE_PROVIDER), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening "), f"fake provider: {line!r} {log.read_text()}"
    return FakeProviderProcess(f"http://127.0.0.1:{int(line.split()[1])}", process)


# --- the compiled project ------------------------------------------------------------------------


def spec_versions(root: Path = REPO) -> dict[str, str]:
    """The policy versions specs/policies.yaml names: what a bundle compiled from it reports."""
    policies = YAML(typ="safe").load((root / "specs" / "policies.yaml").read_text())["policies"]
    return {name: str(policies[name]["version"]) for name in ("prompt", "output")}


def next_minor(version: str) -> str:
    major, minor, _ = (int(part) for part in version.split(".")[:3])
    return f"{major}.{minor + 1}.0"


def gatewayctl(source: Path = REPO) -> tuple[list[str], dict[str, str]]:
    """The command (and the environment it needs) that runs gatewayctl from `source`: this
    checkout's, or another revision's tree (bench/gateway.py measures one against the other;
    `-P` keeps the working directory off sys.path, so the tree's packages are the ones loaded)."""
    if source == REPO:
        return [str(BIN / "gatewayctl")], {}
    return [sys.executable, "-P", "-m", "compiler"], {"PYTHONPATH": str(source)}


def compile_project(
    root: Path,
    provider_url: str,
    edit: Callable[[dict[str, Any]], None] | None = None,
    policy_versions: dict[str, str] | None = None,
    *,
    source: Path = REPO,
) -> Path:
    """Copy specs/, rego/, docs/ of `source` to `root`, point every backend, MCP server and agent at
    the fake provider (point_at_fake), apply `edit` to the parsed specs (file stem -> data), and
    compile with `gatewayctl -C root compile --out root/generated` (`source`'s own)."""
    for name in ("specs", "rego", "docs"):
        if (source / name).is_dir():
            shutil.copytree(source / name, root / name, dirs_exist_ok=True)
    yaml = YAML()
    specs = {p.stem: yaml.load(p.read_text()) for p in sorted((root / "specs").glob("*.yaml"))}
    point_at_fake(specs["backends"], provider_url)
    if edit is not None:
        edit(specs)
    # An edit that changes a policy's data needs a version bump (spec and Rego header) and a new
    # lock, exactly as for a person changing it; otherwise `compile` rightly refuses.
    for policy, version in (policy_versions or {}).items():
        specs["policies"]["policies"][policy]["version"] = version
        rego = root / "rego" / f"{policy}_policy.rego"
        text, n = re.subn(
            r"^# Policy Version: \S+$", f"# Policy Version: {version}", rego.read_text(), count=1, flags=re.M
        )
        text, m = re.subn(
            r"^(#\s+version:) \S+$", rf"\1 {version}", text, count=1, flags=re.M
        )  # METADATA custom.version
        assert n == m == 1, f"{rego}: version header or METADATA custom.version not found"
        rego.write_text(text)
    for stem, data in specs.items():
        with (root / "specs" / f"{stem}.yaml").open("w") as f:
            yaml.dump(data, f)
    command, env = gatewayctl(source)
    env = {**os.environ, **env}
    if policy_versions:
        run = subprocess.run(
            [*command, "-C", str(root), "policy", "lock"], capture_output=True, text=True, check=False, env=env
        )
        assert run.returncode == 0, run.stdout + run.stderr
    out = root / "generated"
    result = subprocess.run(
        [*command, "-C", str(root), "compile", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def point_at_fake(backends_spec: dict[str, Any], provider_url: str) -> None:
    """The fake provider in place of every upstream of specs/backends.yaml: each backend's base_url
    keeps its path on the fake's host (so the gateway's readiness probes and LiteLLM's calls reach
    it), each MCP server is the fake's /mcp, each agent the fake's /a2a."""
    for backend in backends_spec["backends"].values():
        backend["base_url"] = provider_url + urlsplit(backend["base_url"]).path.rstrip("/")
    for server in (backends_spec.get("mcp_servers") or {}).values():
        server["url"] = f"{provider_url}/mcp"
    for agent in (backends_spec.get("agents") or {}).values():
        agent["url"] = f"{provider_url}/a2a"


# The models of the example specs that serve each endpoint other than chat (specs/backends.yaml),
# the MCP server and the agent: what tests/integration asks LiteLLM and the gateway for.
ENDPOINT_MODELS: dict[str, str] = {
    "completions": "completion-default",
    "messages": "claude-sonnet",
    "embeddings": "embed-default",
    "images": "dall-e-3",
    "speech": "tts-default",
    "transcription": "transcribe-default",
    "moderations": "moderation-default",
    "rerank": "rerank-default",
}
MCP_SERVER = "docs_search"
A2A_AGENT = "support-triage"
# Providers whose protocol the fake does not speak, and the one it speaks for them (with /v1).
_FAKE_SPEAKS_FOR = {"ollama": "openai", "ollama_chat": "openai"}


def litellm_test_config(
    generated: Path,
    env: str,
    provider_url: str,
    *,
    guardrails: list[dict[str, Any]] | None = None,
    name: str = "test-config.yaml",
    settings_as_emitted: bool = False,
) -> Path:
    """The emitted LiteLLM config of `env` as it is, with the fake provider's credentials: its
    upstreams already point at the fake (compile_project), models of a provider the fake does not
    speak (Ollama) use its OpenAI protocol instead, and every key is "fake". Test knobs: no retries,
    `traceparent` and `X-*` headers forwarded to the provider, and no in-proxy guardrails (the
    gateway applies the policies here) unless `guardrails` gives a section, neither the response
    cache (a test sees every call reach the provider) nor the emitted callbacks unless
    `settings_as_emitted`. `name` is the file written next to the
    emitted config (where the guardrails find the bundle). Models that authenticate by a cloud's
    identity (Bedrock) stay as emitted: they have no upstream here and are never called."""
    yaml = YAML(typ="safe")
    config: dict[str, Any] = yaml.load((generated / env / "litellm" / "config.yaml").read_text())
    for model in config["model_list"]:
        params = model["litellm_params"]
        provider, _, rest = str(params["model"]).partition("/")
        if provider in _FAKE_SPEAKS_FOR:
            params["model"] = f"{_FAKE_SPEAKS_FOR[provider]}/{rest}"
            params["api_base"] = f"{provider_url}/v1"
        params.update(api_key="fake", max_retries=0)
    for files in config.get("files_settings", []):
        files["api_key"] = "fake"
    upstreams = [m["litellm_params"]["api_base"] for m in config["model_list"] if "api_base" in m["litellm_params"]]
    upstreams += [f["api_base"] for f in config.get("files_settings", [])]
    upstreams += [s["url"] for s in config.get("mcp_servers", {}).values()]
    upstreams += [a["agent_card_params"]["url"] for a in config.get("agents", [])]
    strays = [u for u in upstreams if not u.startswith(provider_url)]
    assert not strays, f"upstreams not on the fake provider (compile with compile_project): {strays}"
    config["router_settings"] = {**config.get("router_settings", {}), "num_retries": 0}
    config["general_settings"] = {**config.get("general_settings", {}), "forward_client_headers_to_llm_api": True}
    emitted = config.get("litellm_settings", {})
    kept = emitted if settings_as_emitted else {k: v for k, v in emitted.items() if k not in ("cache", "cache_params")}
    config["litellm_settings"] = {
        **kept,
        # LiteLLM forwards `traceparent` only with its OpenTelemetry callback on.
        "callbacks": ["otel", *(emitted.get("callbacks", []) if settings_as_emitted else [])],
        "forward_traceparent_to_llm_provider": True,
    }
    config.pop("guardrails", None)
    if guardrails:
        config["guardrails"] = guardrails
    path = generated / env / "litellm" / name
    with path.open("w") as f:
        YAML().dump(config, f)
    return path


def emitted_guardrails(generated: Path, env: str) -> list[dict[str, Any]]:
    """The `guardrails:` section gatewayctl emitted for `env`."""
    emitted: dict[str, Any] = YAML(typ="safe").load((generated / env / "litellm" / "config.yaml").read_text())
    return list(emitted.get("guardrails") or [])


@dataclass
class LiteLLMProxy:
    config: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[Any] | None = None
    env: dict[str, str] = field(default_factory=dict)  # more of the proxy's environment (REDIS_HOST, ...)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiteLLMProxy:
        binary = BIN / "litellm"
        assert binary.exists(), "the LiteLLM proxy is not installed (pip install -e '.[stack]', scripts/setup)"
        self.process = spawn(
            [str(binary), "--config", str(self.config), "--host", "127.0.0.1", "--port", str(self.port)],
            self.log,
            env={
                "LITELLM_MASTER_KEY": LITELLM_MASTER_KEY,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "OTEL_EXPORTER": "console",
                "PYTHONPATH": str(REPO),
                **self.env,
            },
            cwd=self.config.parent,
        )
        wait_http(f"{self.url}/health/liveliness", self.process, self.log)
        return self

    def stop(self) -> None:
        stop_process(self.process)


# --- the gateway ---------------------------------------------------------------------------------


@dataclass
class Gateway:
    process: subprocess.Popen[Any]
    port: int
    log: Path
    operations_port: int | None = None  # /metrics, /health, /v1/gateway/status, /hot-reload/status

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def operations_url(self) -> str:
        assert self.operations_port is not None, "this gateway serves no operations port"
        return f"http://127.0.0.1:{self.operations_port}"

    def chat(
        self,
        content: str = "What is the capital of France?",
        *,
        key: str = CLIENT_KEYS[0],
        path: str = "/v1/chat/completions",
        headers: dict[str, str] | None = None,
        **body: Any,
    ) -> httpx.Response:
        payload = {"model": "chat-default", "messages": [{"role": "user", "content": content}], **body}
        return httpx.post(
            self.url + path,
            json=payload,
            headers={"authorization": f"Bearer {key}", **(headers or {})},
            timeout=30,
        )

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers={"authorization": f"Bearer {CLIENT_KEYS[0]}"}, timeout=10)

    def ops(self, path: str) -> httpx.Response:
        """GET an operations endpoint, on the operations port (no key there)."""
        return httpx.get(self.operations_url + path, timeout=10)

    def stop(self) -> None:
        stop_process(self.process)


def gateway_environ(upstream: str, redis_url: str | None, **environ: str) -> dict[str, str]:
    env = {
        "POLICY_GATEWAY_API_KEYS": ",".join(CLIENT_KEYS),
        "LLM_PROVIDER_URL": f"{upstream}/v1",
        "LLM_PROVIDER_API_KEY": LITELLM_MASTER_KEY,
        "POLICY_GATEWAY_CB_RESET_TIMEOUT_S": "2",
        "POLICY_GATEWAY_UPSTREAM_TIMEOUT_S": "5",
        "POLICY_GATEWAY_HEALTH_INTERVAL_S": "1",
        "POLICY_GATEWAY_RELOAD_INTERVAL_S": "0.2",
        **SPEC_KEY_VALUES,
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(environ)
    return env


def clean_environ() -> dict[str, str]:
    """os.environ without gateway settings: no stray POLICY_GATEWAY_* / SEA_ENV from the shell."""
    prefixes = ("POLICY_GATEWAY_", "LLM_", "SEA_ENV", "REDIS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def launch_gateway(
    generated: Path,
    env_name: str,
    environ: dict[str, str],
    log: Path,
    wait: bool = True,
    *,
    port: int | None = None,
    operations_port: int | None = None,
    ready_path: str = "/health/liveliness",
    source: Path = REPO,
) -> Gateway:
    """`gatewayctl serve` (`source`'s) in its own process group, with exactly `environ` over a
    clean environment; its operations endpoints on `operations_port` (a free one by default)."""
    port = port or free_port()
    operations_port = operations_port or free_port()
    command, extra = gatewayctl(source)
    environ = {"POLICY_GATEWAY_OPERATIONS_PORT": str(operations_port), **environ, **extra}
    cmd = [
        *command,
        "-C",
        str(generated.parent),
        "serve",
        "--env",
        env_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--generated",
        str(generated),
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**clean_environ(), **environ}, start_new_session=True
        )
    gateway = Gateway(process, port, log, int(environ["POLICY_GATEWAY_OPERATIONS_PORT"]))
    if wait:
        wait_http(f"{gateway.url}{ready_path}", process, log, timeout_s=60)
    return gateway


# --- `just ai-stack-up` / `ai-stack-down`: the same stack as local processes ------------------------

STACK_DIR = REPO / ".stack"


def stack_up(env_name: str, gateway_port: int, litellm_port: int, redis_port: int, operations_port: int = 8081) -> None:
    """Start Redis, the fake provider, LiteLLM and the gateway in the background, on the
    registry's ports, from a compile of the specs into .stack/ (the repository's generated/ is
    never touched). Pids go to .stack/pids.json for stack_down."""
    if (STACK_DIR / "pids.json").exists():
        raise SystemExit("a stack is already up (.stack/pids.json); run `just ai-stack-down` first")
    busy = [p for p in (gateway_port, operations_port, litellm_port, redis_port) if port_is_open(p)]
    if busy:
        raise SystemExit(f"port(s) {busy} already in use on 127.0.0.1; stop what holds them or pass other ports")
    STACK_DIR.mkdir(exist_ok=True)
    logs = STACK_DIR / "logs"
    logs.mkdir(exist_ok=True)
    pids: dict[str, int] = {}
    try:
        provider = start_fake_provider(logs / "provider.log")
        pids["provider"] = provider.process.pid
        shutil.rmtree(STACK_DIR / "project", ignore_errors=True)
        generated = compile_project(STACK_DIR / "project", provider.base_url)
        redis = RedisServer(logs / "redis.log", port=redis_port).start()
        assert redis.process is not None
        pids["redis"] = redis.process.pid
        proxy = LiteLLMProxy(
            litellm_test_config(generated, env_name, provider.base_url), logs / "litellm.log", port=litellm_port
        )
        proxy.start()
        assert proxy.process is not None
        pids["litellm"] = proxy.process.pid
        keys = os.environ.get("POLICY_GATEWAY_API_KEYS", CLIENT_KEYS[0])
        environ = gateway_environ(
            proxy.url, redis.url, POLICY_GATEWAY_API_KEYS=keys, POLICY_GATEWAY_CB_RESET_TIMEOUT_S="30"
        )
        gateway = launch_gateway(
            generated,
            env_name,
            environ,
            logs / "gateway.log",
            port=gateway_port,
            operations_port=operations_port,
            ready_path="/health/readiness",
        )
        pids["gateway"] = gateway.process.pid
    except BaseException:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        raise
    (STACK_DIR / "pids.json").write_text(json.dumps(pids, indent=2) + "\n")
    print(f"policy gateway  http://127.0.0.1:{gateway_port}/v1  (env {env_name}, key {keys.split(',')[0]})")
    print(f"operations      http://127.0.0.1:{operations_port}/metrics  (and /health, /v1/gateway/status)")
    print(f"LiteLLM proxy   http://127.0.0.1:{litellm_port}  (master key {LITELLM_MASTER_KEY})")
    print(f"Redis           redis://127.0.0.1:{redis_port}/0")
    print(f"fake provider   {provider.base_url}  (POST /_control to make it fail or hang)")
    print(f"logs in {logs}; stop with `just ai-stack-down`")


def stack_down() -> None:
    pid_file = STACK_DIR / "pids.json"
    if not pid_file.exists():
        print("no stack is up")
        return
    pids: dict[str, int] = json.loads(pid_file.read_text())
    for name, pid in reversed(list(pids.items())):
        try:
            os.killpg(pid, signal.SIGTERM)  # the process group each service was started in
            print(f"stopped {name} (pid {pid})")
        except ProcessLookupError:
            print(f"{name} (pid {pid}) was not running")
    pid_file.unlink()


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="the local AI stack: Redis, fake provider, LiteLLM, gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--env", default="dev")
    up.add_argument("--gateway-port", type=int, default=8080)
    up.add_argument("--operations-port", type=int, default=8081)
    up.add_argument("--litellm-port", type=int, default=8001)
    up.add_argument("--redis-port", type=int, default=6379)
    sub.add_parser("down")
    args = parser.parse_args()
    if args.command == "up":
        stack_up(args.env, args.gateway_port, args.litellm_port, args.redis_port, args.operations_port)
    else:
        stack_down()


if __name__ == "__main__":
    _main()
