variable "name" {
  description = "Machine name."
  type        = string
}

variable "zone" {
  description = "Zone."
  type        = string
}

variable "labels" {
  description = "Labels on the machine (cmlinfra's and --cloud-metadata)."
  type        = map(string)
  default     = {}
}

variable "ssh_public_key" {
  description = "The stack's SSH public key."
  type        = string
}
