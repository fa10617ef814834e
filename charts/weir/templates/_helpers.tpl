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

{{/* Secrets a component reads from files (mounted Secrets, never env),
     as YAML for fromYaml; call with (dict "root" $ "c" "compute"). */}}
{{- define "weir.secrets" -}}
{{- $k := .root.Values.kafka -}}
{{- $v := index .root.Values .c -}}
protocol: {{ default $k.securityProtocol (dig "kafka" "securityProtocol" "" $v) | quote }}
{{- $proto := default $k.securityProtocol (dig "kafka" "securityProtocol" "" $v) }}
{{- /* SASL settings apply unless the protocol says otherwise ("": it may
       come from kafka.config). */}}
{{- $isSasl := or (eq $proto "") (hasPrefix "SASL" (upper $proto)) }}
mechanism: {{ ternary $k.sasl.mechanism "" $isSasl | quote }}
username: {{ ternary (default $k.sasl.username (dig "kafka" "sasl" "username" "" $v)) "" $isSasl | quote }}
saslSecret: {{ ternary (default $k.sasl.existingSecret (dig "kafka" "sasl" "existingSecret" "" $v)) "" $isSasl | quote }}
passwordKey: {{ $k.sasl.passwordKey | quote }}
caSecret: {{ $k.tls.caSecret | quote }}
caConfigMap: {{ $k.tls.caConfigMap | quote }}
caKey: {{ $k.tls.caKey | quote }}
tlsSecret: {{ default $k.tls.existingSecret (dig "kafka" "tls" "existingSecret" "" $v) | quote }}
keyPasswordKey: {{ $k.tls.keyPasswordKey | quote }}
srSecret: {{ .root.Values.schemaRegistry.existingSecret | quote }}
srKey: {{ .root.Values.schemaRegistry.credentialsKey | quote }}
{{- if eq .c "sink" }}
influxSecret: {{ $v.influxAuth.existingSecret | quote }}
influxTokenKey: {{ $v.influxAuth.tokenKey | quote }}
influxUsername: {{ $v.influxAuth.username | quote }}
influxPasswordKey: {{ $v.influxAuth.passwordKey | quote }}
{{- end }}
{{- end -}}
