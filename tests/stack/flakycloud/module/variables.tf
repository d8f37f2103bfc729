variable "name" {
  description = "The stack's name."
  type        = string
}

variable "zone" {
  description = "The zone (fz-a … fz-z)."
  type        = string
}

variable "python" {
  description = "The interpreter that runs the flaky API's command line."
  type        = string
}
