variable "name" {
  description = "Instance name (and its service account's display name). Usually the stack id."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.name))
    error_message = "The name must be 1-63 lowercase letters, digits or dashes, starting with a letter and not ending with a dash."
  }
}

variable "zone" {
  description = "Zone to launch in, e.g. us-west1-b. cmlinfra picks one that offers the machine type and GPU."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "The zone must look like us-west1-b."
  }
}

variable "machine_type" {
  description = "Machine type: n1-standard-4 (with gpu_type/gpu_count), g2-standard-8 (one L4), a2-highgpu-1g (one A100), a3-highgpu-8g (eight H100), custom-8-53248, e2-custom-8-32768…"
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)+$", var.machine_type))
    error_message = "The machine_type must look like n1-standard-4 or custom-8-53248."
  }
}

variable "gpu_type" {
  description = "Accelerator attached to an N1 machine, e.g. nvidia-tesla-t4 or nvidia-tesla-v100. Leave null for machine types with built-in GPUs (a2, a3, g2)."
  type        = string
  default     = null

  validation {
    condition     = var.gpu_type == null || can(regex("^nvidia-[a-z0-9-]+$", coalesce(var.gpu_type, "x")))
    error_message = "The gpu_type must be an accelerator type such as nvidia-tesla-t4."
  }
}

variable "gpu_count" {
  description = "How many gpu_type accelerators to attach (0: none)."
  type        = number
  default     = 0

  validation {
    condition     = contains([0, 1, 2, 4, 8], var.gpu_count)
    error_message = "The gpu_count must be 0, 1, 2, 4 or 8."
  }
}

variable "image" {
  description = "Boot image: a self link, projects/PROJECT/global/images/NAME, or PROJECT/FAMILY (ubuntu-os-cloud/ubuntu-2204-lts). cmlinfra passes the exact image it looked up."
  type        = string
  default     = "ubuntu-os-cloud/ubuntu-2204-lts"
}

variable "boot_disk_size_gb" {
  description = "Boot disk size in GB (datasets, images and caches live here)."
  type        = number
  default     = 35

  validation {
    condition     = var.boot_disk_size_gb >= 10 && var.boot_disk_size_gb <= 65536 && floor(var.boot_disk_size_gb) == var.boot_disk_size_gb
    error_message = "The boot_disk_size_gb must be an integer from 10 to 65536."
  }
}

variable "boot_disk_type" {
  description = "Persistent disk type of the boot disk."
  type        = string
  default     = "pd-balanced"

  validation {
    condition     = contains(["pd-standard", "pd-balanced", "pd-ssd", "hyperdisk-balanced"], var.boot_disk_type)
    error_message = "The boot_disk_type must be one of pd-standard, pd-balanced, pd-ssd, hyperdisk-balanced."
  }
}

variable "kms_key_self_link" {
  description = "Cloud KMS key encrypting the boot disk. Null: Google-managed encryption."
  type        = string
  default     = null
}

variable "network" {
  description = "VPC network (the network module's network output)."
  type        = string
  default     = "default"
}

variable "subnetwork" {
  description = "Subnetwork (the network module's subnetwork output). Null: the network's subnetwork in the zone's region."
  type        = string
  default     = null
}

variable "network_tags" {
  description = "Network tags of the instance: the network module's target_tag, so its firewall rules apply."
  type        = list(string)

  validation {
    condition     = length(var.network_tags) > 0
    error_message = "Give at least the network module's target_tag; without it no firewall rule admits SSH."
  }
}

variable "associate_public_ip" {
  description = "Give the instance an ephemeral public IPv4 address, so the launcher can reach it over SSH from outside the VPC."
  type        = bool
  default     = true
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed for ssh_user through instance metadata (cmlinfra generates one key pair per stack). Project-wide keys are blocked. Public on purpose: no private key ever goes through Terraform."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_public_key)))
    error_message = "The ssh_public_key must be one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-*)."
  }
}

variable "ssh_user" {
  description = "Login user created by the guest environment for ssh_public_key."
  type        = string
  default     = "ubuntu"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ssh_user))
    error_message = "The ssh_user must be a Linux user name such as ubuntu."
  }
}

variable "ssh_port" {
  description = "TCP port sshd listens on (reported in the outputs; the startup script moves sshd there)."
  type        = number
  default     = 22
}

variable "spot" {
  description = "Run as a Spot VM (provisioning_model SPOT): cheaper, may be preempted at any time."
  type        = bool
  default     = false
}

variable "max_run_duration_seconds" {
  description = "Hard lifetime: Compute Engine deletes the instance this many seconds after it starts, whatever the guest does."
  type        = number
  default     = 86400

  validation {
    condition     = var.max_run_duration_seconds >= 600 && var.max_run_duration_seconds <= 10368000 && floor(var.max_run_duration_seconds) == var.max_run_duration_seconds
    error_message = "The max_run_duration_seconds must be an integer from 600 (10 minutes) to 10368000 (120 days)."
  }
}

variable "secure_boot" {
  description = "Shielded VM Secure Boot. Ubuntu's signed NVIDIA driver packages (ubuntu-drivers) load under it; turn it off only for drivers built with DKMS."
  type        = bool
  default     = true
}

variable "service_account_email" {
  description = "Service account the instance runs as (CML's --cloud-permission-set): the job gets its permissions. Null: a new account with no project role at all. Never the Compute Engine default account."
  type        = string
  default     = null

  validation {
    condition     = var.service_account_email == null || can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z0-9.-]+\\.iam\\.gserviceaccount\\.com$", coalesce(var.service_account_email, "x"))) && !can(regex("-compute@developer\\.gserviceaccount\\.com$", coalesce(var.service_account_email, "x")))
    error_message = "The service_account_email must be a user-managed service account (NAME@PROJECT.iam.gserviceaccount.com), not the Compute Engine default one."
  }
}

variable "service_account_scopes" {
  description = "OAuth scopes of the service account. cloud-platform lets IAM alone decide, as Google recommends."
  type        = list(string)
  default     = ["cloud-platform"]
}

variable "self_delete_role" {
  description = "Custom role holding compute.instances.delete only (projects/PROJECT/roles/cmlinfraSelfDelete), granted to the runner's service account on this instance alone so the machine can delete itself. Null: no self-delete; a power-off then leaves a TERMINATED instance for cmlinfra gc."
  type        = string
  default     = null

  validation {
    condition     = var.self_delete_role == null || can(regex("^(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]{3,64}$", coalesce(var.self_delete_role, "x")))
    error_message = "The self_delete_role must be a custom role id such as projects/PROJECT/roles/cmlinfraSelfDelete."
  }
}

variable "startup_script" {
  description = "Startup script (metadata startup-script), rendered by cmlinfra. Must carry no secret: instance metadata is readable by every process on the instance and by anyone who may view it."
  type        = string
  default     = null

  validation {
    condition     = var.startup_script == null || length(coalesce(var.startup_script, " ")) <= 262144
    error_message = "A metadata value is limited to 256 KiB."
  }
}

variable "stack_id" {
  description = "Identifier of the cmlinfra stack (label cmlinfra-stack), used by garbage collection to find what a stack left behind."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9_-]{1,63}$", var.stack_id))
    error_message = "The stack_id must be a valid label value: 1-63 lowercase letters, digits, _ or -."
  }
}

variable "expires_at" {
  description = "Unix time (seconds) after which garbage collection may delete the runner (label cmlinfra-expires; label values cannot hold RFC 3339's colons)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[0-9]{0,12}$", var.expires_at))
    error_message = "The expires_at must be a Unix time in seconds such as 1795435200."
  }
}

variable "labels" {
  description = "Extra labels (CML's --cloud-metadata, cmlinfra-role, cmlinfra-repo) on the instance and its disk."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "Label keys must be 1-63 lowercase letters, digits, _ or - starting with a letter; values up to 63 of the same."
  }
}
