{{/* The chart name, overridable with nameOverride. */}}
{{- define "otelhouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified name of the release's objects (at most 63 characters): fullnameOverride,
else the release name if it already contains the chart name, else <release>-<chart>.
*/}}
{{- define "otelhouse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* <chart>-<version>, for the helm.sh/chart label. */}}
{{- define "otelhouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "otelhouse.labels" -}}
helm.sh/chart: {{ include "otelhouse.chart" . }}
{{ include "otelhouse.selectorLabels" . }}
app.kubernetes.io/version: {{ include "otelhouse.tag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: otelhouse
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator's pods (immutable in the Deployment's selector). */}}
{{- define "otelhouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otelhouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "otelhouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "otelhouse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image tag: image.tag, else the chart's appVersion. */}}
{{- define "otelhouse.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/* The operator image reference. */}}
{{- define "otelhouse.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "otelhouse.tag" .) }}
{{- end }}

{{/* The agents' namespace: their own, so the release namespace can enforce `restricted`. */}}
{{- define "otelhouse.agentNamespace" -}}
{{- required "agents.namespace is required" .Values.agents.namespace }}
{{- end }}

{{/* Labels of the agents' shared objects (their ServiceAccount and RBAC). */}}
{{- define "otelhouse.agentLabels" -}}
helm.sh/chart: {{ include "otelhouse.chart" . }}
app.kubernetes.io/name: otelhouse-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "otelhouse.tag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: otelhouse
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
