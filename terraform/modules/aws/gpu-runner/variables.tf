variable "name" {
  description = "Name of the runner: the instance's Name tag and its key pair's name. Usually the stack id."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", var.name))
    error_message = "The name must be 1-63 letters, digits or dashes, starting with a letter or digit."
  }
}

variable "instance_type" {
  description = "EC2 instance type, e.g. g4dn.xlarge (one NVIDIA T4) or m5.2xlarge."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9-]+$", var.instance_type))
    error_message = "The instance_type must look like g4dn.xlarge."
  }
}

variable "subnet_id" {
  description = "Subnet to launch in (the network module's subnet_id output)."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups of the instance (the network module's security_group_id output)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) > 0
    error_message = "Give at least one security group; the VPC's default group is not a safe fallback."
  }
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed for ssh_user (cmlinfra generates one key pair per stack). Public on purpose: no private key ever goes through Terraform."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_public_key)))
    error_message = "The ssh_public_key must be one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-*)."
  }
}

variable "ami_id" {
  description = "AMI to boot. Null: the newest image of ami_family in the region."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "The ami_id must look like ami-0123456789abcdef0."
  }
}

variable "ami_family" {
  description = "Image looked up when ami_id is null: ubuntu-22.04, ubuntu-24.04 (Canonical), or nvidia (AWS Deep Learning Base OSS NVIDIA driver GPU AMI on Ubuntu 22.04)."
  type        = string
  default     = "ubuntu-22.04"

  validation {
    condition     = contains(["ubuntu-22.04", "ubuntu-24.04", "nvidia"], var.ami_family)
    error_message = "The ami_family must be one of ubuntu-22.04, ubuntu-24.04, nvidia."
  }
}

variable "ssh_user" {
  description = "Login user of the image (ubuntu for every ami_family above)."
  type        = string
  default     = "ubuntu"
}

variable "ssh_port" {
  description = "TCP port sshd listens on (reported in the outputs; the image decides)."
  type        = number
  default     = 22
}

variable "spot" {
  description = "Request a one-time spot instance instead of on-demand."
  type        = bool
  default     = false
}

variable "spot_max_price" {
  description = "Highest hourly price in USD for a spot instance, as a decimal string. Null: capped at the on-demand price."
  type        = string
  default     = null

  validation {
    condition     = var.spot_max_price == null || can(regex("^[0-9]+(\\.[0-9]+)?$", var.spot_max_price))
    error_message = "The spot_max_price must be a positive decimal such as 0.35."
  }
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted root volume in GiB (datasets, images and caches live here)."
  type        = number
  default     = 35

  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 16384 && floor(var.root_volume_size_gb) == var.root_volume_size_gb
    error_message = "The root_volume_size_gb must be an integer from 8 to 16384."
  }
}

variable "root_volume_type" {
  description = "EBS volume type of the root volume."
  type        = string
  default     = "gp3"

  validation {
    condition     = contains(["gp2", "gp3", "io1", "io2"], var.root_volume_type)
    error_message = "The root_volume_type must be one of gp2, gp3, io1, io2."
  }
}

variable "kms_key_id" {
  description = "KMS key (ARN) encrypting the root volume. Null: the account's default EBS key."
  type        = string
  default     = null
}

variable "instance_profile" {
  description = "IAM instance profile name to attach (CML's --cloud-permission-set), giving the job AWS permissions without keys. Null: none."
  type        = string
  default     = null
}

variable "associate_public_ip" {
  description = "Give the instance a public IPv4 address, so the launcher can reach it over SSH from outside the VPC."
  type        = bool
  default     = true
}

variable "detailed_monitoring" {
  description = "One-minute CloudWatch metrics for the instance (a fraction of a cent per runner-hour)."
  type        = bool
  default     = true
}

variable "user_data" {
  description = "Boot script, rendered by cmlinfra from user_data.sh.j2. Must carry no secret (user-data is readable by anything on the instance and in the console). It arms the hard max-TTL power-off."
  type        = string
  default     = null

  validation {
    condition     = var.user_data == null || length(coalesce(var.user_data, " ")) <= 16384
    error_message = "EC2 user data is limited to 16 KiB."
  }
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
  description = "RFC 3339 time after which the runner may be destroyed by garbage collection (tag cmlinfra:expires). The instance powers itself off at its max TTL anyway."
  type        = string
  default     = ""

  validation {
    condition     = var.expires_at == "" || can(formatdate("YYYY", var.expires_at))
    error_message = "The expires_at must be an RFC 3339 timestamp such as 2026-11-27T12:00:00Z."
  }
}

variable "tags" {
  description = "Extra tags (CML's --cloud-metadata) for the instance, its volume and its key pair."
  type        = map(string)
  default     = {}
}
