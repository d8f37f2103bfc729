variable "name" {
  description = "Name of the Job, its ServiceAccount and NetworkPolicy (a DNS label)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,50}[a-z0-9]$", var.name))
    error_message = "The name must be a DNS label of at most 52 characters (the Job controller appends a suffix for its pods)."
  }
}

variable "namespace" {
  description = "Namespace everything is created in (no default: say where the runners go)."
  type        = string
}

variable "image" {
  description = "Container image of the runner. It needs bash and tar (and the CI runner agent, or network access to install it)."
  type        = string
  default     = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"
}

variable "command" {
  description = "The container's main process. The default keeps the pod up for work sent through the API's exec until it is sent SIGTERM or the deadline passes, and hands the container over to /usr/local/lib/cmlinfra/supervisor as soon as that file exists (cmlinfra's runner supervisor: it then is PID 1). When the main process exits 0 the Job completes."
  type        = list(string)
  default = [
    "/bin/sh", "-c",
    "trap 'exit 0' TERM INT; echo 'cmlinfra: pod ready'; while :; do if [ -x /usr/local/lib/cmlinfra/supervisor ]; then exec /usr/local/lib/cmlinfra/supervisor; fi; sleep 1; done",
  ]
}

variable "cpu" {
  description = "CPU cores the pod requests (and is limited to), e.g. \"8\"."
  type        = string
  default     = "8"
}

variable "memory" {
  description = "Memory the pod requests (and is limited to), e.g. \"32000M\"."
  type        = string
  default     = "32000M"
}

variable "gpu_count" {
  description = "GPUs in the container's limits (0: none)."
  type        = number
  default     = 0

  validation {
    condition     = var.gpu_count >= 0 && floor(var.gpu_count) == var.gpu_count
    error_message = "The GPU count must be a whole number, 0 or more."
  }
}

variable "gpu_resource" {
  description = "The extended resource the device plugin offers GPUs as."
  type        = string
  default     = "nvidia.com/gpu"
}

variable "ephemeral_storage" {
  description = "Local disk the container may use, e.g. \"35G\" (\"\": the node's default)."
  type        = string
  default     = ""
}

variable "node_selector" {
  description = "Node labels the pod must be scheduled on."
  type        = map(string)
  default     = {}
}

variable "tolerations" {
  description = "Taints the pod tolerates. Every attribute is given; null where unused (operator Exists takes no value)."
  type = list(object({
    key      = string
    operator = string
    value    = string
    effect   = string
  }))
  default = []
}

variable "runtime_class_name" {
  description = "RuntimeClass of the pod (e.g. nvidia); null: the cluster's default."
  type        = string
  default     = null
}

variable "active_deadline_seconds" {
  description = "Hard limit on the pod's life: the Job is failed and its pod killed after this many seconds, whatever runs."
  type        = number
  default     = 86400

  validation {
    condition     = var.active_deadline_seconds >= 60
    error_message = "The deadline must be at least 60 seconds."
  }
}

variable "ttl_seconds_after_finished" {
  description = "Seconds after the Job finishes until Kubernetes deletes it, its pod and (by owner reference) its registration Secret."
  type        = number
  default     = 300
}

variable "service_account_name" {
  description = "An existing ServiceAccount for the pod (CML's --cloud-permission-set); \"\": the module's own, which has no API rights."
  type        = string
  default     = ""
}

variable "secret_name" {
  description = "Secret mounted read-only at /etc/cmlinfra/secrets once it exists (cmlinfra creates it through the API, owned by the Job, outside Terraform's state); \"\": <name>-registration."
  type        = string
  default     = ""
}

variable "labels" {
  description = "Labels on every object (cmlinfra sets its stack, role and expiry labels)."
  type        = map(string)
  default     = {}
}

variable "annotations" {
  description = "Annotations on every object (cmlinfra puts --cloud-metadata here)."
  type        = map(string)
  default     = {}
}
