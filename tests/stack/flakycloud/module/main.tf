# The flaky cloud's machine: a network, then the machine, each a terraform_data whose
# provisioners call the flaky API (tests/stack/flakycloud/api.py). A failed create leaves the
# machine tainted in the state; a tainted resource's destroy provisioner does not run, so a
# zone that "leaks" leaves a machine only the cloud's inventory can find.
locals {
  api = "${var.python} -m tests.stack.flakycloud.api"
}

resource "terraform_data" "network" {
  input = { api = local.api, name = var.name, zone = var.zone }

  provisioner "local-exec" {
    command = "${self.input.api} create-network ${self.input.name} ${self.input.zone}"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.api} delete-network ${self.input.name} ${self.input.zone}"
  }
}

resource "terraform_data" "machine" {
  input = { api = local.api, name = var.name, zone = var.zone, network = terraform_data.network.id }

  provisioner "local-exec" {
    command = "${self.input.api} create-machine ${self.input.name} ${self.input.zone}"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.api} delete-machine ${self.input.name} ${self.input.zone}"
  }
}
