{{/* The collectors' PodMonitor: <fullname>-collectors (at most 63 characters). */}}
{{- define "otelhouse.collectorsMonitorName" -}}
{{- printf "%s-collectors" (include "otelhouse.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The `job` label of the collectors' series: the Prometheus Operator names a PodMonitor's job
<namespace>/<name> (pkg/prometheus/promcfg.go, generatePodMonitorConfig). The rules read only
those series, not those of other collectors in the cluster.
*/}}
{{- define "otelhouse.collectorsJob" -}}
{{- printf "%s/%s" .Release.Namespace (include "otelhouse.collectorsMonitorName" .) }}
{{- end }}
