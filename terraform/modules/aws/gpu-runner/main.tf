# One runner instance: hardened metadata service, encrypted root volume, terminates itself on
# power-off, optionally spot; the image is given or looked up.

locals {
  # Owners and name patterns of the images ami_family can look up (x86_64, HVM, EBS).
  ami_families = {
    "ubuntu-22.04" = { owner = "099720109477", name = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*" }
    "ubuntu-24.04" = { owner = "099720109477", name = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*" }
    "nvidia"       = { owner = "amazon", name = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *" }
  }
  ami_id = var.ami_id != null ? var.ami_id : data.aws_ami.family[0].id
  tags = merge(var.tags, {
    Name               = var.name
    "cmlinfra:stack"   = var.stack_id
    "cmlinfra:repo"    = var.owner_repo
    "cmlinfra:expires" = var.expires_at
  })
}

data "aws_region" "current" {}

data "aws_ami" "family" {
  count       = var.ami_id == null ? 1 : 0
  owners      = [local.ami_families[var.ami_family].owner]
  most_recent = true

  filter {
    name   = "name"
    values = [local.ami_families[var.ami_family].name]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }

  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }
}

resource "aws_key_pair" "this" {
  key_name   = var.name
  public_key = trimspace(var.ssh_public_key)
  tags       = local.tags
}

resource "aws_instance" "this" {
  #checkov:skip=CKV_AWS_88:The launcher bootstraps the runner over SSH from outside the VPC; the security group admits only the launcher's CIDR
  #checkov:skip=CKV_AWS_135:Current instance types are EBS-optimized by default, and forcing it fails on the few types that cannot be
  #checkov:skip=CKV2_AWS_41:The IAM instance profile is optional (CML's --cloud-permission-set); a runner without one has no AWS permissions at all, which is safer
  ami                    = local.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = var.security_group_ids
  key_name               = aws_key_pair.this.key_name
  iam_instance_profile   = var.instance_profile
  user_data              = var.user_data
  # Replace rather than update in place: user data only runs at first boot.
  user_data_replace_on_change = true
  associate_public_ip_address = var.associate_public_ip
  # A power-off (the max-TTL timer, `shutdown` in a job, a spot reclaim) deletes the
  # instance instead of leaving a stopped machine whose volume is still billed.
  instance_initiated_shutdown_behavior = "terminate"
  monitoring                           = var.detailed_monitoring

  dynamic "instance_market_options" {
    for_each = var.spot ? [var.spot_max_price] : []
    content {
      market_type = "spot"
      spot_options {
        max_price                      = instance_market_options.value
        spot_instance_type             = "one-time"
        instance_interruption_behavior = "terminate"
      }
    }
  }

  # IMDSv2 only, and not reachable from containers behind one more network hop.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_size           = var.root_volume_size_gb
    volume_type           = var.root_volume_type
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
    tags                  = local.tags
  }

  tags = local.tags

  lifecycle {
    # A newer image must not replace a running runner; the next stack picks it up.
    ignore_changes = [ami]
  }
}
