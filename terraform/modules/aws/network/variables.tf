variable "name" {
  description = "Name given to every resource (Name tag, security group name prefix). Usually the stack id."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", var.name))
    error_message = "The name must be 1-63 letters, digits or dashes, starting with a letter or digit."
  }
}

variable "vpc_id" {
  description = "An existing VPC to use instead of creating one. Without subnet_id the runner goes in its first subnet (by id)."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "The vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_id" {
  description = "An existing subnet to put the runner in (its VPC is used). Null: create a VPC and a public subnet, unless vpc_id is set."
  type        = string
  default     = null

  validation {
    condition     = var.subnet_id == null || can(regex("^subnet-[0-9a-f]{8,17}$", var.subnet_id))
    error_message = "The subnet_id must look like subnet-0123456789abcdef0."
  }
}

variable "vpc_cidr" {
  description = "IPv4 range of the VPC created when neither vpc_id nor subnet_id is given."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "The vpc_cidr must be an IPv4 CIDR block such as 10.42.0.0/16."
  }
}

variable "subnet_cidr" {
  description = "IPv4 range of the public subnet created inside the new VPC; must lie within vpc_cidr."
  type        = string
  default     = "10.42.0.0/24"

  validation {
    condition     = can(cidrnetmask(var.subnet_cidr))
    error_message = "The subnet_cidr must be an IPv4 CIDR block such as 10.42.0.0/24."
  }
}

variable "availability_zone" {
  description = "Availability zone of the created subnet (some GPU types exist in only some zones). Null: the first available zone."
  type        = string
  default     = null
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
  # mapped range's network address prints as IPv4).
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
  description = "Explicitly open SSH to every IPv4 and IPv6 address. Off by default: a runner's SSH port should only be reachable from the launcher."
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
  description = "TCP ports the runner may reach anywhere: 443 for the forge, registries and object stores, 80 for Debian/Ubuntu mirrors. DNS, NTP and the instance metadata service need no rule."
  type        = list(number)
  default     = [80, 443]

  validation {
    condition     = alltrue([for p in var.egress_ports : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "Every egress_ports entry must be an integer between 1 and 65535."
  }
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
