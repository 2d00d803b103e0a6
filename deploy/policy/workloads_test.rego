# Tests of deploy/policy/workloads.rego (`opa test deploy/policy`, scripts/chart-check).
package workloads_test

import data.workloads

# --- helpers ---------------------------------------------------------------------------------

_container := {
	"name": "gateway",
	"image": "ghcr.io/example/policy-gateway:0.1.0",
	"livenessProbe": {"httpGet": {"path": "/health/liveliness", "port": "http"}},
	"readinessProbe": {"httpGet": {"path": "/health/readiness", "port": "http"}},
	"resources": {
		"requests": {"cpu": "500m", "memory": "1Gi"},
		"limits": {"cpu": "2000m", "memory": "4Gi"},
	},
	"securityContext": {"readOnlyRootFilesystem": true, "runAsNonRoot": true, "runAsUser": 1000},
}

_deployment(pod) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "policy-gateway"},
	"spec": {"template": {"spec": pod}},
}

_pod(container) := {"securityContext": {"runAsNonRoot": true}, "containers": [container]}

_deny(manifest) := messages if {
	messages := workloads.deny with input as manifest
}

# The messages for one container changed by patch (JSON Patch operations).
_deny_patched(ops) := _deny(_deployment(_pod(json.patch(_container, ops))))

_as_root := `Deployment/policy-gateway: container "gateway" may run as root: set securityContext.runAsNonRoot: true`

_uid_0 := `Deployment/policy-gateway: container "gateway" runs as uid 0: pick a non-zero runAsUser`

_writable(name) := sprintf(
	"Deployment/policy-gateway: container %q has a writable root filesystem: %s",
	[name, "set securityContext.readOnlyRootFilesystem: true (mount an emptyDir where it must write)"],
)

_not_pinned(image) := sprintf(
	`Deployment/policy-gateway: container "gateway" uses image %q, which is not pinned: %s`,
	[image, "use a version tag or a digest, never latest"],
)

# --- what passes -----------------------------------------------------------------------------

test_a_container_that_keeps_every_rule_passes if {
	_deny(_deployment(_pod(_container))) == set()
}

test_objects_without_pods_are_not_checked if {
	_deny({"kind": "Service", "metadata": {"name": "policy-gateway"}, "spec": {"ports": []}}) == set()
}

test_non_root_inherited_from_the_pod_passes if {
	_deny_patched([{"op": "remove", "path": "/securityContext/runAsNonRoot"}]) == set()
}

test_an_image_pinned_by_digest_passes if {
	_deny_patched([{"op": "replace", "path": "/image", "value": "ghcr.io/example/policy-gateway@sha256:0123"}]) == set()
}

test_a_registry_port_is_not_a_tag if {
	_deny_patched([{"op": "replace", "path": "/image", "value": "registry.local:5000/policy-gateway:1.2.3"}]) == set()
}

# --- non-root --------------------------------------------------------------------------------

test_a_container_without_run_as_non_root_in_a_pod_without_it_is_refused if {
	pod := {"containers": [json.remove(_container, ["securityContext/runAsNonRoot"])]}
	_deny(_deployment(pod)) == {_as_root}
}

test_a_container_that_undoes_the_pods_non_root_is_refused if {
	_deny_patched([{"op": "replace", "path": "/securityContext/runAsNonRoot", "value": false}]) == {_as_root}
}

test_uid_0_is_refused if {
	_deny_patched([{"op": "replace", "path": "/securityContext/runAsUser", "value": 0}]) == {_uid_0}
}

test_uid_0_of_the_pod_is_refused if {
	pod := {
		"securityContext": {"runAsNonRoot": true, "runAsUser": 0},
		"containers": [json.remove(_container, ["securityContext/runAsUser"])],
	}
	_deny(_deployment(pod)) == {_uid_0}
}

# --- read-only root filesystem ---------------------------------------------------------------

test_a_writable_root_filesystem_is_refused if {
	every value in [false, null] {
		_deny_patched([{"op": "replace", "path": "/securityContext/readOnlyRootFilesystem", "value": value}]) == {_writable("gateway")}
	}
}

test_init_containers_take_the_same_rules if {
	init := json.patch(_container, [
		{"op": "replace", "path": "/name", "value": "migrate"},
		{"op": "remove", "path": "/securityContext/readOnlyRootFilesystem"},
		{"op": "remove", "path": "/livenessProbe"},
	])
	pod := object.union(_pod(_container), {"initContainers": [init]})
	_deny(_deployment(pod)) == {_writable("migrate")}
}

# --- pinned images ---------------------------------------------------------------------------

test_latest_and_untagged_images_are_refused if {
	every image in ["ghcr.io/example/policy-gateway:latest", "ghcr.io/example/policy-gateway", "registry.local:5000/gw"] {
		_deny_patched([{"op": "replace", "path": "/image", "value": image}]) == {_not_pinned(image)}
	}
}

# --- resources -------------------------------------------------------------------------------

test_each_missing_request_or_limit_is_named if {
	_deny_patched([
		{"op": "remove", "path": "/resources/limits/memory"},
		{"op": "remove", "path": "/resources/requests/cpu"},
	]) == {
		`Deployment/policy-gateway: container "gateway" sets no memory limits: set resources.limits.memory`,
		`Deployment/policy-gateway: container "gateway" sets no cpu requests: set resources.requests.cpu`,
	}
}

test_no_resources_at_all_names_all_four if {
	count(_deny_patched([{"op": "remove", "path": "/resources"}])) == 4
}

# --- probes ----------------------------------------------------------------------------------

test_missing_probes_are_refused if {
	_deny_patched([{"op": "remove", "path": "/livenessProbe"}, {"op": "remove", "path": "/readinessProbe"}]) == {
		`Deployment/policy-gateway: container "gateway" has no livenessProbe: Kubernetes cannot tell when it is stuck`,
		`Deployment/policy-gateway: container "gateway" has no readinessProbe: Kubernetes cannot tell when it is ready`,
	}
}

# --- other workload kinds --------------------------------------------------------------------

test_cron_jobs_and_pods_are_checked_too if {
	bad := json.patch(_container, [{"op": "replace", "path": "/image", "value": "busybox:latest"}])
	cron := {
		"kind": "CronJob",
		"metadata": {"name": "rotate"},
		"spec": {"jobTemplate": {"spec": {"template": {"spec": _pod(bad)}}}},
	}
	some message in _deny(cron)
	startswith(message, `CronJob/rotate: container "gateway" uses image "busybox:latest"`)
	some pod_message in _deny(object.union({"kind": "Pod", "metadata": {"name": "debug"}}, {"spec": _pod(bad)}))
	startswith(pod_message, `Pod/debug: container "gateway" uses image "busybox:latest"`)
}
