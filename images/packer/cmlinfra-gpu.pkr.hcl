# A cmlinfra GPU runner AMI: Ubuntu + NVIDIA driver + Docker + NVIDIA container toolkit + runner
# agents, installed by the very scripts `cmlinfra runner launch` runs over SSH
# (`cmlinfra bootstrap render --out scripts`), so a runner launched from this AMI with
# --cloud-image skips every step already done here. See README.md.

locals {
  stamp   = formatdate("YYYYMMDD-hhmmss", timestamp())
  scripts = sort(fileset(path.root, "scripts/*.sh"))
  # Run every step in order; stop at the first that asks for a reboot: exit code 194 (steps.json's
  # reboot_exit_code) AND a last output line "reboot: <why>", the same rule `cmlinfra bootstrap`
  # applies, so a command that happens to exit 194 cannot reboot the builder.
  run_steps = join("\n", concat(
    ["set -eu", "cd /var/tmp/cmlinfra-bootstrap"],
    [for s in local.scripts : "bash ./${basename(s)} 2>&1 | tee .step.log; rc=$${PIPESTATUS[0]}; if [ $rc -eq 194 ] && tail -n 1 .step.log | grep -q '^reboot: '; then touch .reboot; exit 0; elif [ $rc -ne 0 ]; then exit $rc; fi"],
  ))
  tags = merge(var.tags, {
    "cmlinfra:image"   = "true"
    "cmlinfra:builder" = "packer"
    "cmlinfra:steps"   = join(",", [for s in local.scripts : trimsuffix(basename(s), ".sh")])
  })
  # Google Cloud labels allow only [a-z0-9_-]: the steps go in the image description instead.
  steps_text = join(",", [for s in local.scripts : trimsuffix(basename(s), ".sh")])
  labels = merge(var.gcp_labels, {
    "cmlinfra-image"   = "true"
    "cmlinfra-builder" = "packer"
    "managed-by"       = "cmlinfra"
  })
}

source "amazon-ebs" "gpu" {
  region        = var.region
  ami_regions   = var.ami_regions
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  ssh_username  = var.ssh_username
  ssh_interface = "public_ip"
  ami_name      = "${var.ami_name_prefix}-${local.stamp}"

  source_ami_filter {
    filters = {
      name                = var.source_ami_name
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = [var.source_ami_owner]
    most_recent = true
  }

  # The temporary security group admits SSH from ssh_cidr only (Packer's default is the world).
  temporary_security_group_source_cidrs = [var.ssh_cidr]
  # If Packer dies, the builder still powers itself off and is terminated, never left running.
  shutdown_behavior = "terminate"

  launch_block_device_mappings {
    device_name           = "/dev/sda1"
    volume_size           = var.volume_size_gb
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }
  encrypt_boot = true

  run_tags        = merge(local.tags, { Name = "cmlinfra-image-builder" })
  run_volume_tags = local.tags
  snapshot_tags   = local.tags
  tags            = merge(local.tags, { Name = "${var.ami_name_prefix}-${local.stamp}" })
}

# The same image on Google Cloud, in the family `cmlinfra-gpu` that `--cloud-image cmlinfra`
# boots. Packer's googlecompute builder makes no firewall rule: the builder gets the network
# tag gcp_network_tags, which must be admitted from ssh_cidr only (terraform/modules/gcp/network
# with target_tag = "cmlinfra-packer" makes that rule). Build one cloud with
# `packer build -only=googlecompute.gpu .` or `-only=amazon-ebs.gpu`.
source "googlecompute" "gpu" {
  project_id              = var.gcp_project_id
  zone                    = var.gcp_zone
  machine_type            = var.gcp_machine_type
  accelerator_type        = "projects/${var.gcp_project_id}/zones/${var.gcp_zone}/acceleratorTypes/${var.gcp_accelerator_type}"
  accelerator_count       = var.gcp_accelerator_count
  on_host_maintenance     = "TERMINATE" # GPUs cannot live-migrate
  source_image_family     = var.gcp_source_image_family
  source_image_project_id = [var.gcp_source_image_project]
  disk_size               = var.volume_size_gb
  disk_type               = "pd-balanced"
  ssh_username            = var.ssh_username
  tags                    = var.gcp_network_tags
  network                 = var.gcp_network
  subnetwork              = var.gcp_subnetwork
  # the builder never gets the default compute service account or its broad scopes
  disable_default_service_account = true
  image_name                      = "${var.ami_name_prefix}-${local.stamp}"
  image_family                    = "cmlinfra-gpu"
  image_description               = "cmlinfra runner image\ncmlinfra.steps=${local.steps_text}"
  image_labels                    = local.labels
  labels                          = merge(local.labels, { "cmlinfra-role" = "image-builder" })
  metadata = {
    "block-project-ssh-keys" = "true"
    "enable-oslogin"         = "FALSE"
  }
}

# The same image on Azure: a managed image, like `cmlinfra image bake --cloud azure` publishes.
source "azure-arm" "gpu" {
  use_azure_cli_auth = true
  subscription_id    = var.azure_subscription_id
  location           = var.azure_location
  vm_size            = var.azure_vm_size
  os_type            = "Linux"
  image_publisher    = "Canonical"
  image_offer        = "0001-com-ubuntu-server-jammy"
  image_sku          = "22_04-lts-gen2"
  image_version      = "latest"
  os_disk_size_gb    = var.volume_size_gb
  ssh_username       = var.ssh_username

  managed_image_name                = "${var.ami_name_prefix}-${local.stamp}"
  managed_image_resource_group_name = var.azure_image_resource_group

  # SSH to the builder from ssh_cidr only (Packer's default network security group admits any).
  allowed_inbound_ip_addresses = [var.ssh_cidr]
  azure_tags                   = merge(local.tags, { Name = "${var.ami_name_prefix}-${local.stamp}" })
}

build {
  sources = ["source.amazon-ebs.gpu", "source.googlecompute.gpu", "source.azure-arm.gpu"]

  provisioner "file" {
    source      = "${path.root}/scripts/"
    destination = "/var/tmp/cmlinfra-bootstrap" # /tmp may be emptied by the reboot below
  }

  # Each step checks its own result first and prints "skip: …" when there is nothing to do:
  # that is what lets a runner launched from this AMI skip it. A step that needs a reboot
  # (the NVIDIA driver) exits with 194 after a last line "reboot: …"; the machine reboots and every step runs again.
  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; sudo -E bash {{ .Path }}"
    inline          = [local.run_steps]
  }

  provisioner "shell" {
    execute_command   = "chmod +x {{ .Path }}; sudo -E bash {{ .Path }}"
    inline            = ["if [ -e /var/tmp/cmlinfra-bootstrap/.reboot ]; then rm -f /var/tmp/cmlinfra-bootstrap/.reboot; reboot; fi"]
    expect_disconnect = true
  }

  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; sudo -E bash {{ .Path }}"
    inline          = [local.run_steps, "test ! -e /var/tmp/cmlinfra-bootstrap/.reboot"]
    pause_before    = "10s"
  }

  # Last: no machine identity, host keys, logs, history or key material in the image.
  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; sudo -E bash {{ .Path }}"
    script          = "${path.root}/cleanup.sh"
  }

  post-processor "manifest" {
    output     = "manifest.json"
    strip_path = true
  }
}
