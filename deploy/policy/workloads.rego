# METADATA
# title: Deployment rules for the rendered chart
# description: >-
#   What every workload the chart renders must promise, checked by conftest on the output of
#   `helm template` (scripts/chart-check): pods run as a non-root user, containers have a
#   read-only root filesystem, images are pinned (a tag that is not "latest", or a digest),
#   CPU and memory requests and limits are set, and liveness and readiness probes are set.
#   Input: one Kubernetes object (conftest evaluates each document of a file on its own).
# authors:
#   - Platform security <platform-security@example.com>
package workloads

# Kinds whose pod template is at spec.template (CronJob's one level deeper).
_templated := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

_pod := input.spec.template.spec if input.kind in _templated

_pod := input.spec.jobTemplate.spec.template.spec if input.kind == "CronJob"

_pod := input.spec if input.kind == "Pod"

_name := sprintf("%s/%s", [input.kind, input.metadata.name])

# Init containers run in the same pod and take the same rules.
_containers contains container if {
	some field in ["initContainers", "containers"]
	some container in object.get(_pod, field, [])
}

# A container runs as non-root when it says so, or inherits it from the pod and does not undo it.
_non_root(container) if container.securityContext.runAsNonRoot == true

_non_root(container) if {
	_pod.securityContext.runAsNonRoot == true
	object.get(container, ["securityContext", "runAsNonRoot"], true) == true
}

# The uid a container runs as: its own, else the pod's (undefined when neither sets one).
_uid(container) := container.securityContext.runAsUser

_uid(container) := _pod.securityContext.runAsUser if not container.securityContext.runAsUser

# The tag is what follows the last ":" after the last "/" (a registry's port is not a tag).
_tag(image) := tag if {
	not contains(image, "@")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := substring(last, indexof(last, ":") + 1, -1)
}

_unpinned(image) if _tag(image) == "latest"

_unpinned(image) if {
	not contains(image, "@")
	not _tag(image)
}

# --- the rules -------------------------------------------------------------------------------

deny contains sprintf("%s: container %q may run as root: set securityContext.runAsNonRoot: true", [
	_name, container.name,
]) if {
	some container in _containers
	not _non_root(container)
}

deny contains sprintf("%s: container %q runs as uid 0: pick a non-zero runAsUser", [_name, container.name]) if {
	some container in _containers
	_uid(container) == 0
}

deny contains sprintf(
	"%s: container %q has a writable root filesystem: %s",
	[_name, container.name, "set securityContext.readOnlyRootFilesystem: true (mount an emptyDir where it must write)"],
) if {
	some container in _containers
	object.get(container, ["securityContext", "readOnlyRootFilesystem"], false) != true
}

deny contains sprintf("%s: container %q uses image %q, which is not pinned: %s", [
	_name, container.name, container.image, "use a version tag or a digest, never latest",
]) if {
	some container in _containers
	_unpinned(container.image)
}

deny contains sprintf("%s: container %q sets no %s %s: set resources.%s.%s", [
	_name, container.name, resource, kind, kind, resource,
]) if {
	some container in _containers
	some kind in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	not container.resources[kind][resource]
}

deny contains sprintf("%s: container %q has no %s: Kubernetes cannot tell when it is %s", [
	_name, container.name, probe, state,
]) if {
	some container in _pod.containers # init containers run to completion and take no probes
	some probe, state in {"livenessProbe": "stuck", "readinessProbe": "ready"}
	not container[probe]
}
