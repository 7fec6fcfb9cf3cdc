{{/* The chart's name. */}}
{{- define "media-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: the release's, with the chart's unless it holds it. */}}
{{- define "media-service.fullname" -}}
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

{{/* FLEET_SERVICE: the headless Service whose ready endpoints are the members. */}}
{{- define "media-service.membersService" -}}
{{- printf "%s-members" (include "media-service.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "media-service.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "media-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "media-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "media-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "media-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "media-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "media-service.secretName" -}}
{{- default (include "media-service.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* The device pods' namespace. */}}
{{- define "media-service.deviceNamespace" -}}
{{- default .Release.Namespace .Values.devices.namespace }}
{{- end }}

{{/* The shape, checked. */}}
{{- define "media-service.shape" -}}
{{- if not (has .Values.shape (list "perNode" "pool")) }}
{{- fail (printf "shape %q: want perNode or pool" .Values.shape) }}
{{- end }}
{{- .Values.shape }}
{{- end }}

{{/* The pod's terminationGracePeriodSeconds: above DRAIN_TIMEOUT. */}}
{{- define "media-service.gracePeriod" -}}
{{- add (int .Values.drainTimeout) (int .Values.drainGraceExtraSeconds) }}
{{- end }}

{{/* The pod template of both shapes. */}}
{{- define "media-service.podTemplate" -}}
{{- $shape := include "media-service.shape" . -}}
{{- $perNode := eq $shape "perNode" -}}
{{- $hostNetwork := ternary .Values.perNode.hostNetwork .Values.pool.hostNetwork $perNode -}}
metadata:
  labels:
    {{- include "media-service.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "media-service.serviceAccountName" . }}
  terminationGracePeriodSeconds: {{ include "media-service.gracePeriod" . }}
  {{- if $hostNetwork }}
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.runtimeClassName }}
  runtimeClassName: {{ . }}
  {{- end }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with (ternary .Values.perNode.nodeSelector .Values.pool.nodeSelector $perNode) }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with (ternary .Values.perNode.tolerations .Values.pool.tolerations $perNode) }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $perNode }}
  {{- with .Values.perNode.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- else }}
  affinity:
    {{- if .Values.pool.affinity }}
    {{- toYaml .Values.pool.affinity | nindent 4 }}
    {{- else }}
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "media-service.selectorLabels" . | nindent 16 }}
    {{- end }}
  {{- end }}
  containers:
    - name: media-service
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.port }}
          protocol: TCP
        - name: ice
          containerPort: {{ .Values.udpPort }}
          protocol: UDP
      env:
        - name: CONFIG_FILE
          value: /etc/media-service/media-service.env
        - name: CONFIG_WATCH
          value: "true"
        - name: PORT
          value: {{ .Values.port | quote }}
        - name: ICE_UDP_MUX_PORT
          value: {{ .Values.udpPort | quote }}
        - name: DRAIN_TIMEOUT
          value: {{ printf "%ds" (int .Values.drainTimeout) | quote }}
        - name: DEVICE_SOURCE
          value: kubernetes
        - name: DEVICE_NAMESPACE
          value: {{ include "media-service.deviceNamespace" . | quote }}
        - name: FLEET_PLACEMENT
          value: {{ ternary "node" "spread" $perNode }}
        - name: FLEET_SERVICE
          value: {{ include "media-service.membersService" . | quote }}
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: FLEET_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- range list "API_TOKENS" "FLEET_SECRET" "TURN_PASSWORD" "TURN_SECRET" "JWT_HS256_SECRETS" "WEBHOOK_SECRET" }}
        - name: {{ . }}
          valueFrom:
            secretKeyRef:
              name: {{ include "media-service.secretName" $ }}
              key: {{ . }}
              optional: true
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      readinessProbe:
        httpGet:
          path: /ready
          port: http
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /health
          port: http
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      {{- $resources := deepCopy (.Values.resources | default dict) }}
      {{- if and (not $perNode) .Values.pool.gpu.enabled }}
      {{- $limits := get $resources "limits" | default dict }}
      {{- $_ := set $limits .Values.pool.gpu.resourceName (.Values.pool.gpu.count | int) }}
      {{- $_ := set $resources "limits" $limits }}
      {{- end }}
      {{- with $resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /etc/media-service
          readOnly: true
        - name: recordings
          mountPath: /var/lib/media-service/recordings
  volumes:
    - name: config
      configMap:
        name: {{ include "media-service.fullname" . }}
    - name: recordings
      {{- if .Values.recordings.existingClaim }}
      persistentVolumeClaim:
        claimName: {{ .Values.recordings.existingClaim }}
      {{- else if .Values.recordings.hostPath }}
      hostPath:
        path: {{ .Values.recordings.hostPath }}
        type: DirectoryOrCreate
      {{- else }}
      emptyDir:
        {{- with .Values.recordings.sizeLimit }}
        sizeLimit: {{ . }}
        {{- end }}
      {{- end }}
{{- end }}
