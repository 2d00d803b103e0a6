#!/bin/sh
# Entrypoint of the policy-gateway image. Checks what must hold before anything starts, then
# execs the gateway (or the given command) so tini forwards signals to it directly.
#
#   SEA_ENV=production and LLM_ENABLE_POLICY_GATEWAY != true  -> refuse (seed 000 fail-fast)
#   GATEWAY_ENV set but not compiled under $GENERATED_DIR      -> refuse
#   EXPECTED_*_SHA256 set and the baked file differs            -> refuse (the Helm values and
#                                                                  the image come from different compiles)
#   no command and no GATEWAY_ENV                               -> refuse (nothing to serve)
# Every refusal is one line on stderr and exit code 78 (EX_CONFIG). Without arguments it runs
# `gatewayctl serve --env $GATEWAY_ENV`; compose passes its own `gatewayctl serve ...` command.
set -eu

refuse() {
    printf 'policy-gateway entrypoint: refusing to start: %s\n' "$1" >&2
    exit 78
}

if [ "${SEA_ENV:-}" = "production" ] && [ "${LLM_ENABLE_POLICY_GATEWAY:-}" != "true" ]; then
    refuse "SEA_ENV=production requires LLM_ENABLE_POLICY_GATEWAY=true (got '${LLM_ENABLE_POLICY_GATEWAY:-<unset>}')"
fi

generated_dir="${GENERATED_DIR:-/app/generated}"
env_name="${GATEWAY_ENV:-}"
if [ -z "$env_name" ]; then
    [ "$#" -gt 0 ] || refuse "GATEWAY_ENV is not set (the compiled environment to serve, e.g. prod)"
    exec "$@"
fi
case "$env_name" in
    */* | .*) refuse "GATEWAY_ENV='$env_name' is not an environment name" ;;
esac
env_dir="$generated_dir/$env_name"
[ -r "$env_dir/gateway.json" ] || refuse "no compiled environment '$env_name': $env_dir/gateway.json is missing"

# check_digest FILE EXPECTED LABEL: an empty EXPECTED means "not pinned" (compose, local runs).
check_digest() {
    [ -n "$2" ] || return 0
    [ -r "$1" ] || refuse "$3 $1 is missing"
    actual=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$actual" = "$2" ] || refuse "$3 $1 has sha256 $actual, the deployment expects $2 (rebuild the image from the same compile as the Helm values)"
}
check_digest "$env_dir/opa/bundle.tar.gz" "${EXPECTED_POLICY_BUNDLE_SHA256:-}" "policy bundle"
check_digest "$env_dir/gateway.json" "${EXPECTED_GATEWAY_SETTINGS_SHA256:-}" "gateway settings"

if [ "$#" -eq 0 ]; then
    set -- gatewayctl serve --env "$env_name" --generated "$generated_dir" \
        --host "${GATEWAY_HOST:-0.0.0.0}" --port "${GATEWAY_PORT:-8080}"
fi
exec "$@"
