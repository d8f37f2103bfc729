variable "name" {
  description = "Container name; also the instance_id output."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.name))
    error_message = "The name must be a valid hostname: lowercase letters, digits and dashes."
  }
}

variable "image" {
  description = "Image alias or fingerprint (scripts/localcloud.sh imports cmlinfra-debian-12)."
  type        = string
  default     = "cmlinfra-debian-12"
}

variable "cpu" {
  description = "CPU limit (limits.cpu)."
  type        = number
  default     = 2
}

variable "memory" {
  description = "Memory limit (limits.memory), e.g. 4GiB."
  type        = string
  default     = "4GiB"
}

variable "nesting" {
  description = "Allow containers inside (security.nesting), e.g. Docker for container jobs."
  type        = bool
  default     = true
}

variable "gpu" {
  description = "Pass a host GPU through (an LXD gpu device)."
  type        = bool
  default     = false
}

variable "gpu_pci" {
  description = "PCI address of the GPU to pass through; empty passes every GPU of the host."
  type        = string
  default     = ""
}

variable "ephemeral" {
  description = "Delete the container when it powers off (so the max-TTL power-off removes it)."
  type        = bool
  default     = true
}

variable "ssh_public_key" {
  description = "OpenSSH public key authorized for root."
  type        = string
}

variable "max_ttl_seconds" {
  description = "Power off this many seconds after boot (0: never). Needs an image that honours user.cmlinfra.max-ttl, as cmlinfra-debian-12 does."
  type        = number
  default     = 0
}

variable "expires" {
  description = "Unix time after which the container powers off (empty: never); recorded as user.cmlinfra.expires."
  type        = string
  default     = ""
}

variable "labels" {
  description = "Free-form labels, stored as user.<key> config (stack name, owner, CI metadata)."
  type        = map(string)
  default     = {}
}

variable "profiles" {
  description = "LXD profiles; the default profile carries the root disk and the bridge NIC."
  type        = list(string)
  default     = ["default"]
}

variable "wait_for_network" {
  description = "Wait in the provider until the container has an IPv4 address, so the address output is set. The provider polls at most every 3 s after a refresh_interval delay; a caller that reads the address from LXD itself (cmlinfra does) sets false and is ready seconds sooner."
  type        = bool
  default     = true
}

variable "remote" {
  description = "The provider's LXD remote to create the container on; empty: the provider's default. A remote in the provider's config_dir may name an LXD project (cmlinfra names each after its project)."
  type        = string
  default     = ""
}

variable "project" {
  description = "The LXD project the remote points at, echoed as the project output (terraform-lxd 1.5.0 has no project argument of its own)."
  type        = string
  default     = "default"
}
