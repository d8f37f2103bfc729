variable "name" {
  description = "Name of the runner, given to every resource (usually the stack id). The resource group is named after it unless resource_group_name is set."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.name))
    error_message = "The name must be 2-63 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "location" {
  description = "Azure location of the resource group and everything in it, e.g. westus2."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]+$", var.location))
    error_message = "The location must be an Azure location name such as westus2 (not its display name)."
  }
}

variable "resource_group_name" {
  description = "Name of the resource group created for this runner. Null: the name. Everything the runner is lives in this one group, so deleting the group ends the runner."
  type        = string
  default     = null

  validation {
    condition     = var.resource_group_name == null || can(regex("^[-\\w.()]{1,89}[-\\w()]$", coalesce(var.resource_group_name, "x")))
    error_message = "The resource_group_name must be 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'."
  }
}

variable "subnet_id" {
  description = "An existing subnet to put the runner in (in the same location). Null: create a virtual network with one subnet in the group."
  type        = string
  default     = null

  validation {
    condition     = var.subnet_id == null || can(regex("(?i)^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+/providers/Microsoft\\.Network/virtualNetworks/[^/]+/subnets/[^/]+$", coalesce(var.subnet_id, "x")))
    error_message = "The subnet_id must be a subnet's resource id: /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/VNET/subnets/SUBNET."
  }
}

variable "vnet_cidr" {
  description = "IPv4 range of the virtual network created when subnet_id is null."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vnet_cidr))
    error_message = "The vnet_cidr must be an IPv4 CIDR block such as 10.42.0.0/16."
  }
}

variable "subnet_cidr" {
  description = "IPv4 range of the subnet created inside the new virtual network; must lie within vnet_cidr."
  type        = string
  default     = "10.42.1.0/24"

  validation {
    condition     = can(cidrnetmask(var.subnet_cidr))
    error_message = "The subnet_cidr must be an IPv4 CIDR block such as 10.42.1.0/24."
  }
}

variable "ssh_cidrs" {
  description = "Who may reach SSH: IPv4 or IPv6 CIDR blocks, usually the launcher's own address as a /32. No default on purpose; an empty list opens no SSH port. To open SSH to the whole internet, set allow_world_ssh instead."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.ssh_cidrs : can(cidrhost(c, 0))])
    error_message = "Every ssh_cidrs entry must be a CIDR block such as 203.0.113.7/32 or 2001:db8::1/128."
  }

  # Parsed, not compared as text (0.0.0.0/1, 0.0.0.0/00 and ::0/0 are the world too): a range
  # wider than a /16 of public IPv4 addresses or a /48 of IPv6 is refused; private ranges
  # (10/8, 172.16/12, 100.64/10, fc00::/7) may be wider; IPv4-mapped IPv6 is refused.
  # The family is told by the ":" (cidrnetmask() also accepts IPv6 on Terraform 1.0; a
  # mapped range's network address prints as IPv4). The same rule as cmlinfra's --ssh-cidr.
  validation {
    condition = alltrue([for c in var.ssh_cidrs : try(
      replace(c, ":", "") == c ? (
        tonumber(split("/", c)[1]) >= 16
        || (tonumber(split("/", c)[1]) >= 8 && cidrhost(format("%s/8", cidrhost(c, 0)), 0) == "10.0.0.0")
        || (tonumber(split("/", c)[1]) >= 12 && cidrhost(format("%s/12", cidrhost(c, 0)), 0) == "172.16.0.0")
        || (tonumber(split("/", c)[1]) >= 10 && cidrhost(format("%s/10", cidrhost(c, 0)), 0) == "100.64.0.0")
        ) : (
        replace(cidrhost(c, 0), ":", "") != cidrhost(c, 0)
        && (tonumber(split("/", c)[1]) >= 48
        || (tonumber(split("/", c)[1]) >= 7 && cidrhost(format("%s/7", cidrhost(c, 0)), 0) == "fc00::"))
      ),
    true)])
    error_message = "SSH from more public addresses than a /16 (IPv4) or /48 (IPv6) is refused in ssh_cidrs (0.0.0.0/1 and ::0/0 included); set allow_world_ssh = true if you really mean it."
  }
}

variable "allow_world_ssh" {
  description = "Explicitly open SSH to every address. Off by default: a runner's SSH port should only be reachable from the launcher."
  type        = bool
  default     = false
}

variable "ssh_port" {
  description = "TCP port sshd listens on."
  type        = number
  default     = 22

  validation {
    condition     = var.ssh_port >= 1 && var.ssh_port <= 65535 && floor(var.ssh_port) == var.ssh_port
    error_message = "The ssh_port must be an integer between 1 and 65535."
  }
}

variable "egress_ports" {
  description = "TCP ports the runner may reach on the internet: 443 for the forge, registries, object stores and Azure Resource Manager (the machine deletes its own group through it), 80 for Ubuntu mirrors. All other outbound internet traffic is denied; DNS, the instance metadata service and the platform's time sync are not filtered by network security groups."
  type        = list(number)
  default     = [80, 443]

  validation {
    condition     = alltrue([for p in var.egress_ports : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "Every egress_ports entry must be an integer between 1 and 65535."
  }

  validation {
    condition     = length(var.egress_ports) <= 50
    error_message = "Give at most 50 egress_ports."
  }
}

variable "tags" {
  description = "Tags on every resource (cmlinfra puts its stack, role and expiry tags here; gc finds the group by them)."
  type        = map(string)
  default     = {}
}
