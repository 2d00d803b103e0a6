"""gatewayctl: compiles the gateway specs in specs/ into the artifacts in generated/."""
