{{/* Names and labels shared by every template. */}}

{{- define "weir.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>"; call with (dict "root" $ "c" "compute"). */}}
{{- define "weir.name" -}}
{{- printf "%s-%s" (include "weir.fullname" .root) .c | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "weir.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .c }}
{{- end -}}

{{- define "weir.labels" -}}
{{ include "weir.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: weir
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels of release-wide objects (no component). */}}
{{- define "weir.commonLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: weir
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "weir.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "weir.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "weir.pipelineConfigMap" -}}
{{- default (printf "%s-pipeline" (include "weir.fullname" .)) .Values.pipeline.existingConfigMap -}}
{{- end -}}

{{- define "weir.schemasConfigMap" -}}
{{- if .Values.schemas.existingConfigMap -}}
{{- .Values.schemas.existingConfigMap -}}
{{- else if .Values.schemas.files -}}
{{- printf "%s-schemas" (include "weir.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The components that consume Kafka in a group (scaled on lag). */}}
{{- define "weir.consumers" -}}compute enrichment sink{{- end -}}

{{/* HTTP port a component serves besides admin (0: none). */}}
{{- define "weir.httpPort" -}}
{{- $v := index .root.Values .c -}}
{{- if hasKey $v "httpPort" }}{{ $v.httpPort }}{{ else }}0{{ end -}}
{{- end -}}
