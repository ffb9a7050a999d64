{{/* Names, labels and shared snippets. */}}
{{- define "switchboard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "switchboard.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "switchboard.image" -}}
{{ .root.Values.image.repository }}/{{ .name }}:{{ .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- end -}}

{{- define "switchboard.publicUrl" -}}
{{- required "publicUrl is required: the URL Twilio reaches the webhook server at, e.g. https://switchboard.example.com" .Values.publicUrl | trimSuffix "/" -}}
{{- end -}}

{{/* The Redis URL. A password is never spliced into it (it would need percent-encoding):
the binaries read it from SWITCHBOARD_REDIS_PASSWORD (switchboard.redisEnv). */}}
{{- define "switchboard.redisUrl" -}}
{{- if .Values.redis.embedded.enabled -}}
redis://{{ include "switchboard.fullname" . }}-redis:6379/0
{{- else -}}
{{ required "redis.url is required (or set redis.embedded.enabled=true to try Switchboard out)" .Values.redis.url }}
{{- end -}}
{{- end -}}

{{- define "switchboard.redisEnv" -}}
{{- if and (not .Values.redis.embedded.enabled) .Values.redis.passwordSecret.name -}}
- name: SWITCHBOARD_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.passwordSecret.name }}
      key: {{ .Values.redis.passwordSecret.key }}
{{ end -}}
- name: SWITCHBOARD_REDIS_URL
  value: {{ include "switchboard.redisUrl" . | quote }}
{{- end -}}

{{- define "switchboard.podSecurityContext" -}}
runAsNonRoot: true
{{- with .Values.securityContext.runAsGroup }}
# Mounted Secret files are owned by root; with fsGroup the kubelet gives them this group and
# group read, so the container's non-root user can read them (a 0400 root file it could not).
fsGroup: {{ . }}
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- /*
The namespaces the operator reads Secrets in through namespaced Roles, comma-separated; empty
when it reads them through its ClusterRole (operator.secretAccess=cluster) or its watch
namespace's Role (operator.watchNamespace).
*/ -}}
{{- define "switchboard.secretNamespaces" -}}
{{- if and (eq .Values.operator.watchNamespace "") (eq .Values.operator.secretAccess "namespaces") -}}
{{- .Values.operator.secretNamespaces | default (list .Release.Namespace) | uniq | join "," -}}
{{- end -}}
{{- end -}}
