"""The compiled policies inside the LiteLLM proxy, for environments without the separate gateway (or
for one hop instead of two): the same bundle, readers and decisions as the gateway
(runtime.endpoints, runtime.policy.decision), evaluated in-process on every endpoint LiteLLM serves.

Loaded by LiteLLM from the `guardrails:` section gatewayctl emits into
generated/<env>/litellm/config.yaml (paths relative to the config file):

    guardrails:
      - guardrail_name: policy-prompt
        litellm_params:
          guardrail: runtime.litellm_guardrail.PolicyBundleGuardrail
          mode: pre_call
          default_on: true
          policy_bundle: ../opa/bundle.tar.gz
          fail_mode: closed                     # open: pass when no decision can be made
          reload_interval_s: 5                  # optional: how often a recompiled bundle is picked up
      - guardrail_name: policy-output
        litellm_params: {guardrail: runtime.litellm_guardrail.PolicyBundleGuardrail, mode: post_call, ...}
      - guardrail_name: policy-mcp
        litellm_params: {guardrail: runtime.litellm_guardrail.PolicyMcpGuardrail,
                         mode: [pre_mcp_call, post_mcp_call], ...}

A refusal is the gateway's: status 403 (503 with retry-after when the policy cannot decide and the
fail mode is closed), the gateway's error object and decision headers wherever LiteLLM lets them
through; answers carry X-Policy-Decision, X-Policy-Version and X-Policy-Categories. What each
LiteLLM route makes of it is measured in tests/integration/LITELLM_ENDPOINTS.md ("Our guardrail").
"""

from runtime.litellm_guardrail._guardrail import PolicyBundleGuardrail
from runtime.litellm_guardrail._mcp import PolicyMcpGuardrail
from runtime.litellm_guardrail._policies import DECISION_EVENT, GuardrailConfigError
from runtime.litellm_guardrail._refusals import PolicyRefusal

__all__ = ["DECISION_EVENT", "GuardrailConfigError", "PolicyBundleGuardrail", "PolicyMcpGuardrail", "PolicyRefusal"]
