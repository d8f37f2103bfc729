# The fake cloud's machine: nothing to create (no provider), the same outputs as the modules
# that create machines, so the rest of a stack does not care which cloud it is.
locals {
  instance_id = "${var.name}.${var.zone}"
}
