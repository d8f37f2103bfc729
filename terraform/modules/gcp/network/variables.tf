variable "name" {
  description = "Prefix of every resource name (firewall rules, created network). Usually the stack id."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$", var.name))
    error_message = "The name must be 1-50 lowercase letters, digits or dashes, starting with a letter and not ending with a dash (firewall rule names add up to 13 characters and GCP allows 63)."
  }
}

variable "network" {
  description = "An existing VPC network (name or self link) to put the runner in, e.g. default. Ignored when create_network is true."
  type        = string
  default     = "default"

  validation {
    condition     = can(regex("^([a-z]([-a-z0-9]{0,61}[a-z0-9])?|(https://www.googleapis.com/compute/v1/)?projects/[^/]+/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?)$", var.network))
    error_message = "The network must be a network name such as default, or projects/PROJECT/global/networks/NAME."
  }
}

variable "subnetwork" {
  description = "An existing subnetwork (name or self link) of network. Null: the network's subnetwork in the runner's region (auto-mode networks such as default have one in every region)."
  type        = string
  default     = null

  validation {
    condition     = var.subnetwork == null || can(regex("^([a-z]([-a-z0-9]{0,61}[a-z0-9])?|(https://www.googleapis.com/compute/v1/)?projects/[^/]+/regions/[a-z0-9-]+/subnetworks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?)$", coalesce(var.subnetwork, "x")))
    error_message = "The subnetwork must be a name or projects/PROJECT/regions/REGION/subnetworks/NAME."
  }
}

variable "create_network" {
  description = "Create a custom-mode VPC with one subnetwork instead of using network (for projects without a default network)."
  type        = bool
  default     = false
}

variable "region" {
  description = "Region of the subnetwork created with create_network. Null: the provider's region."
  type        = string
  default     = null
}

variable "subnet_cidr" {
  description = "IPv4 range of the subnetwork created with create_network."
  type        = string
  default     = "10.42.0.0/24"

  validation {
    condition     = can(cidrnetmask(var.subnet_cidr))
    error_message = "The subnet_cidr must be an IPv4 CIDR block such as 10.42.0.0/24."
  }
}

variable "target_tag" {
  description = "Network tag the firewall rules target. Null: cmlinfra-NAME, so each runner's rules apply to that runner only."
  type        = string
  default     = null

  validation {
    condition     = var.target_tag == null || can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", coalesce(var.target_tag, "x")))
    error_message = "The target_tag must be 1-63 lowercase letters, digits or dashes, starting with a letter."
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
  description = "Explicitly open SSH to every IPv4 address. Off by default: a runner's SSH port should only be reachable from the launcher."
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

variable "restrict_egress" {
  description = "Allow egress only on egress_ports (and deny the rest) for the runner's tag. Off: the network's own egress rules apply (GCP allows all egress by default)."
  type        = bool
  default     = true
}

variable "egress_ports" {
  description = "TCP ports the runner may reach anywhere: 443 for the forge, registries, object stores and the Compute API (self-delete), 80 for Debian/Ubuntu mirrors. The metadata server needs no rule."
  type        = list(number)
  default     = [80, 443]

  validation {
    condition     = length(var.egress_ports) > 0 && alltrue([for p in var.egress_ports : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "The egress_ports must be a non-empty list of integers between 1 and 65535."
  }
}
