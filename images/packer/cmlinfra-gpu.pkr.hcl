# A cmlinfra GPU runner AMI: Ubuntu + NVIDIA driver + Docker + NVIDIA container toolkit + runner
# agents, installed by the very scripts `cmlinfra runner launch` runs over SSH
# (`cmlinfra bootstrap render --out scripts`), so a runner launched from this AMI with
# --cloud-image skips every step already done here. See README.md.

locals {
  stamp   = formatdate("YYYYMMDD-hhmmss", timestamp())
  scripts = sort(fileset(path.root, "scripts/*.sh"))
  tags = merge(var.tags, {
    "cmlinfra:image"   = "true"
    "cmlinfra:builder" = "packer"
    "cmlinfra:steps"   = join(",", [for s in local.scripts : trimsuffix(basename(s), ".sh")])
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

build {
  sources = ["source.amazon-ebs.gpu"]

  provisioner "file" {
    source      = "${path.root}/scripts/"
    destination = "/tmp/cmlinfra-bootstrap"
  }

  # Each step script is idempotent and records itself as done, which is what lets a runner
  # launched from this image skip it.
  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; sudo -E bash {{ .Path }}"
    inline = concat(
      ["set -eu", "cd /tmp/cmlinfra-bootstrap"],
      [for s in local.scripts : "bash ./${basename(s)}"],
    )
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
