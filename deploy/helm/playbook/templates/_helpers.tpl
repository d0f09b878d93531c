{{- define "playbook.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "playbook.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "playbook.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "playbook.fullname" .) -}}
{{- end -}}

{{- define "playbook.databaseSecretName" -}}
{{- .Values.database.existingSecret | default (include "playbook.fullname" .) -}}
{{- end -}}

{{/* The environment every pod shares: settings from the ConfigMap, secrets from Secrets. */}}
{{- define "playbook.env" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "playbook.databaseSecretName" . }}
      key: database-url
- name: PLAYBOOK_LINK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "playbook.secretName" . }}
      key: link-secret
- name: PLAYBOOK_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "playbook.secretName" . }}
      key: webhook-secret
- name: PLAYBOOK_CODEC_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "playbook.secretName" . }}
      key: codec-keys
{{- if .Values.temporal.apiKeySecret }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.temporal.apiKeySecret }}
      key: api-key
{{- end }}
{{- if .Values.temporal.clientCertSecret }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/temporal/client/tls.crt
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/temporal/client/tls.key
{{- end }}
{{- if .Values.temporal.serverCaSecret }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /etc/temporal/ca/ca.crt
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "playbook.volumeMounts" -}}
{{- if .Values.temporal.clientCertSecret }}
- name: temporal-client-cert
  mountPath: /etc/temporal/client
  readOnly: true
{{- end }}
{{- if .Values.temporal.serverCaSecret }}
- name: temporal-server-ca
  mountPath: /etc/temporal/ca
  readOnly: true
{{- end }}
{{- if .Values.playbooks.configMap }}
- name: playbooks
  mountPath: /app/playbooks
  readOnly: true
{{- end }}
- name: state
  mountPath: /app/state
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "playbook.volumes" -}}
{{- if .Values.temporal.clientCertSecret }}
- name: temporal-client-cert
  secret:
    secretName: {{ .Values.temporal.clientCertSecret }}
{{- end }}
{{- if .Values.temporal.serverCaSecret }}
- name: temporal-server-ca
  secret:
    secretName: {{ .Values.temporal.serverCaSecret }}
{{- end }}
{{- if .Values.playbooks.configMap }}
- name: playbooks
  configMap:
    name: {{ .Values.playbooks.configMap }}
{{- end }}
- name: state
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "playbook.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
