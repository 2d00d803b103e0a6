{{/*
Names. The gateway and the proxy keep the service names of specs/gateway.yaml
(policy-gateway, llm-provider) so the routing URLs compiled from specs resolve unchanged
inside the namespace; one release per namespace.
*/}}
{{- define "pg.gatewayName" -}}
{{- .Values.gateway.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pg.litellmName" -}}
{{- .Values.litellm.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pg.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pg.serviceAccountName" -}}
{{- default (include "pg.gatewayName" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Labels shared by every object; "component" is added per workload. */}}
{{- define "pg.labels" -}}
helm.sh/chart: {{ include "pg.chart" . }}
app.kubernetes.io/part-of: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
policy-gateway/environment: {{ .Values.environment | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "pg.gatewaySelector" -}}
app.kubernetes.io/name: {{ include "pg.gatewayName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pg.litellmSelector" -}}
app.kubernetes.io/name: {{ include "pg.litellmName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* env entries reading keys of the existing Secret: references only, never values. */}}
{{- define "pg.secretEnv" -}}
{{- $secret := .secret -}}
{{- range $name, $key := .env }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- end -}}

{{- define "pg.httpProbe" -}}
httpGet:
  path: {{ .probe.path }}
  port: http
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}

{{- define "pg.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.dns.podLabels | nindent 10 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}

{{/* Pod label maps of the network policies; an empty map in the values means the default. */}}
{{- define "pg.clientPodLabels" -}}
{{- toYaml (.Values.networkPolicy.clientPodLabels | default (dict "policy-gateway-client" "true")) -}}
{{- end -}}

{{- define "pg.redisPodLabels" -}}
{{- toYaml (.Values.networkPolicy.redisPodLabels | default (dict "app.kubernetes.io/name" "redis")) -}}
{{- end -}}

{{- define "pg.opaPodLabels" -}}
{{- toYaml (.Values.networkPolicy.opaPodLabels | default (dict "app.kubernetes.io/name" "opa")) -}}
{{- end -}}

{{/* repository[:tag][@digest]: a digest pins the exact image, the tag stays for people. */}}
{{- define "pg.image" -}}
{{- .repository -}}
{{- with .tag }}:{{ . }}{{ end -}}
{{- with .digest }}@{{ . }}{{ end -}}
{{- end -}}

{{/*
A preStop sleep: the pod keeps serving while it leaves the Service's endpoints, so no request
arrives after SIGTERM closes its listener. Python sleeps (both images have it; no shell needed).
*/}}
{{- define "pg.preStop" -}}
{{- if gt (int .) 0 }}
lifecycle:
  preStop:
    exec:
      command: ["python", "-c", "import time; time.sleep({{ . }})"]
{{- end }}
{{- end }}

{{/* The OTLP collector the environment exports to (observability in the specs): its port, in any
namespace of the cluster (a collector outside the cluster needs a rule of the operator's own). */}}
{{- define "pg.collectorEgress" -}}
{{- with .Values.networkPolicy.collectorPort }}
# The OTLP collector (traces, metrics, logs).
- to:
    - namespaceSelector: {}
  ports:
    - protocol: TCP
      port: {{ . }}
{{- end }}
{{- end -}}
