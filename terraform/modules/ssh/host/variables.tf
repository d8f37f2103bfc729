variable "host" {
  description = "Address (IP or DNS name) of the existing machine."
  type        = string
}

variable "user" {
  description = "SSH user."
  type        = string
  default     = "root"
}

variable "port" {
  description = "SSH port."
  type        = number
  default     = 22
}

variable "host_key" {
  description = "The machine's OpenSSH public host key line (e.g. from a trusted inventory), checked on connect."
  type        = string
  default     = ""
}
