{{/* Names and the environment every dockyard pod shares. */}}
{{- define "dockyard.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dockyard.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "dockyard.env" -}}
- name: DOCKYARD_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
- name: DOCKYARD_STORAGE
  value: s3
- name: DOCKYARD_S3_ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
- name: DOCKYARD_S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: DOCKYARD_S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: DOCKYARD_S3_PREFIX
  value: {{ .Values.s3.prefix | quote }}
- name: DOCKYARD_S3_REDIRECT
  value: {{ .Values.s3.redirect | quote }}
{{- if .Values.s3.existingSecret }}
- name: DOCKYARD_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: accessKeyId
- name: DOCKYARD_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: secretAccessKey
{{- end }}
- name: DOCKYARD_EXTERNAL_URL
  value: {{ .Values.externalURL | quote }}
- name: DOCKYARD_TRUST_PROXY_HEADERS
  value: "true"
- name: DOCKYARD_SECRET_KEY_FILE
  value: /run/dockyard/secret-key
- name: DOCKYARD_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.adminPassword.existingSecret }}
      key: {{ .Values.adminPassword.key }}
- name: DOCKYARD_DATA_DIR
  value: /var/lib/dockyard
- name: DOCKYARD_HOST
  value: 0.0.0.0
- name: DOCKYARD_PORT
  value: "5000"
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "dockyard.volumes" -}}
- name: secret-key
  secret:
    secretName: {{ .Values.secretKey.existingSecret }}
    items:
      - key: {{ .Values.secretKey.key }}
        path: secret-key
- name: scratch
  emptyDir: {}
{{- end -}}

{{- define "dockyard.volumeMounts" -}}
- name: secret-key
  mountPath: /run/dockyard
  readOnly: true
- name: scratch
  mountPath: /var/lib/dockyard
{{- end -}}
