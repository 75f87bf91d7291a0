{{/*
Shared pieces of the mailgw chart's templates.
*/}}

{{/* Labels on every object the chart renders. */}}
{{- define "mailgw.labels" -}}
app.kubernetes.io/name: mailgw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: mailgw
{{- end }}

{{/* Labels that select the operator's pods (never change them: a Deployment's selector is immutable). */}}
{{- define "mailgw.operatorSelector" -}}
app.kubernetes.io/name: mailgw
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The image of the operator, and of the gateway pods unless a MailGateway sets spec.image. */}}
{{- define "mailgw.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
