"""LiteLLM is imported by the guardrail tests; offline, it must not try to fetch its cost map."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
