variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region the AMI is built (and first published) in."
}

variable "ami_regions" {
  type        = list(string)
  default     = []
  description = "Extra regions the finished AMI is copied to."
}

variable "instance_type" {
  type        = string
  default     = "g4dn.xlarge"
  description = "Builder size. A GPU type lets the driver step verify nvidia-smi before publishing."
}

variable "source_ami_name" {
  type        = string
  default     = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"
  description = "Base image name filter (Canonical's Ubuntu 22.04, like cmlinfra's default AMI)."
}

variable "source_ami_owner" {
  type        = string
  default     = "099720109477" # Canonical
  description = "Account that owns the base image."
}

variable "ssh_username" {
  type    = string
  default = "ubuntu"
}

variable "ssh_cidr" {
  type        = string
  description = "Who may reach the builder's SSH port: the build machine's own address as /32. No default, and never the whole internet."
  # Parsed, not compared as text (0.0.0.0/1, 0.0.0.0/00, ::0/0): the same rule as cmlinfra's
  # --ssh-cidr and the aws/network module — no wider than a /16 of public IPv4 addresses or a
  # /48 of IPv6; private ranges (10/8, 172.16/12, 100.64/10, fc00::/7) may be wider.
  validation {
    condition = try(
      replace(var.ssh_cidr, ":", "") == var.ssh_cidr ? (
        parseint(split("/", var.ssh_cidr)[1], 10) >= 16
        || (parseint(split("/", var.ssh_cidr)[1], 10) >= 8 && cidrhost(format("%s/8", cidrhost(var.ssh_cidr, 0)), 0) == "10.0.0.0")
        || (parseint(split("/", var.ssh_cidr)[1], 10) >= 12 && cidrhost(format("%s/12", cidrhost(var.ssh_cidr, 0)), 0) == "172.16.0.0")
        || (parseint(split("/", var.ssh_cidr)[1], 10) >= 10 && cidrhost(format("%s/10", cidrhost(var.ssh_cidr, 0)), 0) == "100.64.0.0")
        ) : (
        replace(cidrhost(var.ssh_cidr, 0), ":", "") != cidrhost(var.ssh_cidr, 0)
        && (parseint(split("/", var.ssh_cidr)[1], 10) >= 48
        || (parseint(split("/", var.ssh_cidr)[1], 10) >= 7 && cidrhost(format("%s/7", cidrhost(var.ssh_cidr, 0)), 0) == "fc00::"))
      ),
    false)
    error_message = "The ssh_cidr value must be a CIDR of at most a /16 of public IPv4 addresses (or a /48 of IPv6), such as 203.0.113.7/32."
  }
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet for the builder; empty: the default VPC."
}

variable "volume_size_gb" {
  type    = number
  default = 60
}

variable "ami_name_prefix" {
  type    = string
  default = "cmlinfra-gpu"
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Extra tags on the AMI, its snapshots and the builder."
}

variable "gcp_project_id" {
  type        = string
  default     = "my-project"
  description = "Google Cloud project the googlecompute builder runs in and publishes to."
}

variable "gcp_zone" {
  type        = string
  default     = "us-west1-b"
  description = "Zone of the googlecompute builder (one that offers gcp_accelerator_type)."
}

variable "gcp_machine_type" {
  type        = string
  default     = "n1-standard-4"
  description = "Builder machine type: N1, the family that takes attached GPUs."
}

variable "gcp_accelerator_type" {
  type        = string
  default     = "nvidia-tesla-t4"
  description = "GPU attached to the builder, so the driver step verifies nvidia-smi."
}

variable "gcp_accelerator_count" {
  type    = number
  default = 1
}

variable "gcp_source_image_family" {
  type        = string
  default     = "ubuntu-2204-lts"
  description = "Base image family (Ubuntu 22.04, like cmlinfra's default on Google Cloud)."
}

variable "gcp_source_image_project" {
  type    = string
  default = "ubuntu-os-cloud"
}

variable "gcp_network" {
  type    = string
  default = "default"
}

variable "gcp_subnetwork" {
  type    = string
  default = ""
}

variable "gcp_network_tags" {
  type        = list(string)
  default     = ["cmlinfra-packer"]
  description = "Network tags of the builder: a firewall rule must admit SSH to them from ssh_cidr only."
}

variable "gcp_labels" {
  type        = map(string)
  default     = {}
  description = "Extra labels on the image and the builder ([a-z0-9_-] only)."
}

# Azure (`packer build -only=azure-arm.gpu .`): credentials come from the environment
# (ARM_CLIENT_ID/ARM_CLIENT_SECRET or the Azure CLI with use_azure_cli_auth), never from here.
variable "azure_subscription_id" {
  type        = string
  default     = ""
  description = "Subscription of the builder and the image; empty: the Azure CLI's."
}

variable "azure_location" {
  type        = string
  default     = "eastus"
  description = "Azure location the builder runs and the managed image lives in."
}

variable "azure_vm_size" {
  type        = string
  default     = "Standard_NC4as_T4_v3"
  description = "Builder size (one NVIDIA T4: the driver step verifies nvidia-smi)."
}

variable "azure_image_resource_group" {
  type        = string
  default     = "cmlinfra-images"
  description = "Existing resource group the managed image is published to (cmlinfra image bake's default)."
}
