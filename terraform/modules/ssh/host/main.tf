# An existing machine reached over SSH: nothing to create. The module gives it the same outputs
# as the modules that create machines, so the rest of a stack does not care which it is.
locals {
  instance_id = "${var.user}@${var.host}:${var.port}"
}
