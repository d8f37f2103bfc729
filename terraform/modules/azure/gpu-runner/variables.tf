variable "name" {
  description = "Name of the runner: the VM's name and host name, and the prefix of its disk, network interface and address. Usually the stack id."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.name))
    error_message = "The name must be 2-63 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "resource_group_name" {
  description = "The runner's own resource group (the network module's resource_group_name output)."
  type        = string
}

variable "resource_group_id" {
  description = "Resource id of that group: the scope of the role that lets the machine delete it (the network module's resource_group_id output)."
  type        = string

  validation {
    condition     = can(regex("(?i)^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+$", var.resource_group_id))
    error_message = "The resource_group_id must look like /subscriptions/SUB/resourceGroups/NAME."
  }
}

variable "location" {
  description = "Azure location, e.g. westus2 (the group's)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]+$", var.location))
    error_message = "The location must be an Azure location name such as westus2."
  }
}

variable "vm_size" {
  description = "Azure VM size, e.g. Standard_NC4as_T4_v3 (one NVIDIA T4) or Standard_F8s_v2."
  type        = string

  validation {
    condition     = can(regex("^(Standard|Basic)_[A-Za-z0-9_]+$", var.vm_size))
    error_message = "The vm_size must look like Standard_NC4as_T4_v3."
  }
}

variable "subnet_id" {
  description = "Subnet of the network interface (the network module's subnet_id output)."
  type        = string
}

variable "network_security_group_id" {
  description = "Network security group of the network interface (the network module's output)."
  type        = string
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed for admin_username (cmlinfra generates one key pair per stack). Public on purpose: no private key ever goes through Terraform. Azure accepts RSA and ed25519 keys."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_public_key)))
    error_message = "The ssh_public_key must be one OpenSSH public key line (ssh-ed25519 or ssh-rsa)."
  }
}

variable "admin_username" {
  description = "Login user created on the VM (SSH key only; password authentication is disabled)."
  type        = string
  default     = "ubuntu"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.admin_username)) && !contains(["admin", "administrator", "root", "user", "guest", "test", "sys", "adm", "owner", "support"], var.admin_username)
    error_message = "The admin_username must be a lowercase Linux user name that Azure does not reserve (not admin, root, user…)."
  }
}

variable "source_image" {
  description = "Marketplace image (publisher, offer, sku, version) booted when source_image_id is null. Default: Canonical's Ubuntu 22.04 LTS (Gen2)."
  type = object({
    publisher = string
    offer     = string
    sku       = string
    version   = string
  })
  default = {
    publisher = "Canonical"
    offer     = "0001-com-ubuntu-server-jammy"
    sku       = "22_04-lts-gen2"
    version   = "latest"
  }
}

variable "source_image_id" {
  description = "Resource id of a managed image or gallery image (version) to boot instead, e.g. one `cmlinfra image bake --cloud azure` made."
  type        = string
  default     = null

  validation {
    condition     = var.source_image_id == null || can(regex("(?i)^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+/providers/Microsoft\\.Compute/(images|galleries)/", coalesce(var.source_image_id, "x")))
    error_message = "The source_image_id must be the resource id of a managed image or a gallery image."
  }
}

variable "os_disk_size_gb" {
  description = "Size of the OS disk in GB (datasets, images and caches live here); at least the image's own size."
  type        = number
  default     = 35

  validation {
    condition     = var.os_disk_size_gb >= 30 && var.os_disk_size_gb <= 4095 && floor(var.os_disk_size_gb) == var.os_disk_size_gb
    error_message = "The os_disk_size_gb must be an integer from 30 to 4095."
  }
}

variable "os_disk_type" {
  description = "Storage of the OS disk. StandardSSD_LRS works with every size; Premium_LRS is faster on sizes that support premium storage."
  type        = string
  default     = "StandardSSD_LRS"

  validation {
    condition     = contains(["Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "StandardSSD_ZRS", "Premium_ZRS"], var.os_disk_type)
    error_message = "The os_disk_type must be one of Standard_LRS, StandardSSD_LRS, Premium_LRS, StandardSSD_ZRS, Premium_ZRS."
  }
}

variable "spot" {
  description = "Run as an Azure Spot VM: evicted (and deleted, with its disk) when Azure needs the capacity back or the price rises above max_bid_price."
  type        = bool
  default     = false
}

variable "max_bid_price" {
  description = "Highest hourly price in USD for a Spot VM; -1 pays up to the pay-as-you-go price and is never evicted for price (CML's --cloud-spot-price -1)."
  type        = number
  default     = -1

  validation {
    condition     = var.max_bid_price == -1 || (var.max_bid_price > 0 && var.max_bid_price < 1000)
    error_message = "The max_bid_price must be -1 or a positive price below 1000 USD per hour."
  }
}

variable "custom_data" {
  description = "Boot script, rendered by cmlinfra (custom_data.sh.j2). Must carry no secret: custom data is readable by anything on the VM and by anyone who can read the VM. It arms the max-TTL power-off and the end-of-machine unit."
  type        = string
  default     = null

  validation {
    condition     = var.custom_data == null || length(coalesce(var.custom_data, " ")) <= 49000
    error_message = "Azure custom data is limited to 64 KiB once base64-encoded (about 48 KiB of script)."
  }
}

variable "self_delete" {
  description = "Give the VM a system-assigned managed identity with self_delete_role on its own resource group, so that powering off deletes the group (a stopped Azure VM still bills). Needs the caller to be allowed to create role assignments on the group."
  type        = bool
  default     = true
}

variable "self_delete_role" {
  description = "Role assigned to the VM's identity on its own group. Contributor is built in; a custom role holding only the delete actions (docs/azure.md) is narrower."
  type        = string
  default     = "Contributor"
}

variable "user_assigned_identity_ids" {
  description = "User-assigned managed identities to attach (CML's --cloud-permission-set), giving the job Azure permissions without secrets."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.user_assigned_identity_ids : can(regex("(?i)^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+/providers/Microsoft\\.ManagedIdentity/userAssignedIdentities/[^/]+$", id))])
    error_message = "Every user_assigned_identity_ids entry must be a user-assigned identity's resource id."
  }
}

variable "ssh_port" {
  description = "TCP port sshd listens on (reported in the outputs; custom_data moves sshd there)."
  type        = number
  default     = 22
}

variable "stack_id" {
  description = "Identifier of the cmlinfra stack (tag cmlinfra:stack), used by garbage collection to find what a stack left behind."
  type        = string
}

variable "owner_repo" {
  description = "Repository that launched the runner, e.g. github.com/org/repo (tag cmlinfra:repo)."
  type        = string
  default     = ""
}

variable "expires_at" {
  description = "RFC 3339 time after which the runner may be deleted by garbage collection (tag cmlinfra:expires). The VM ends itself at its max TTL anyway."
  type        = string
  default     = ""

  validation {
    condition     = var.expires_at == "" || can(formatdate("YYYY", var.expires_at))
    error_message = "The expires_at must be an RFC 3339 timestamp such as 2026-11-27T12:00:00Z."
  }
}

variable "tags" {
  description = "Extra tags (CML's --cloud-metadata) for the VM, its disk, network interface and address."
  type        = map(string)
  default     = {}
}
