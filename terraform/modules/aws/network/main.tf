# A network a runner can live in: either a fresh VPC with one public subnet, or an existing
# VPC/subnet given by id; plus a security group whose only ingress is SSH from the caller's CIDRs.

locals {
  create_vpc = var.subnet_id == null && var.vpc_id == null
  tags       = merge(var.tags, { Name = var.name })
}

data "aws_availability_zones" "available" {
  count = local.create_vpc && var.availability_zone == null ? 1 : 0
  state = "available"
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Flow logs would outlive a throw-away runner VPC and cost more than the runner; enable them on a long-lived VPC and pass its vpc_id instead
  count                = local.create_vpc ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = local.tags
}

# Takes over the VPC's default security group and leaves it without rules, so nothing that
# lands in it by accident is reachable (CIS 5.4).
resource "aws_default_security_group" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(local.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = local.tags
}

resource "aws_subnet" "this" {
  count             = local.create_vpc ? 1 : 0
  vpc_id            = aws_vpc.this[0].id
  cidr_block        = var.subnet_cidr
  availability_zone = coalesce(var.availability_zone, try(data.aws_availability_zones.available[0].names[0], null))
  # Public addresses are asked for per instance (gpu-runner's associate_public_ip_address),
  # not handed to everything launched here.
  map_public_ip_on_launch = false
  tags                    = local.tags
}

resource "aws_route_table" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this[0].id
  }

  tags = local.tags
}

resource "aws_route_table_association" "this" {
  count          = local.create_vpc ? 1 : 0
  subnet_id      = aws_subnet.this[0].id
  route_table_id = aws_route_table.this[0].id
}

data "aws_subnet" "given" {
  count = var.subnet_id != null ? 1 : 0
  id    = var.subnet_id
}

data "aws_subnets" "in_vpc" {
  count = var.subnet_id == null && var.vpc_id != null ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [var.vpc_id]
  }
}

locals {
  vpc_id = (
    local.create_vpc ? aws_vpc.this[0].id :
    var.subnet_id != null ? data.aws_subnet.given[0].vpc_id : var.vpc_id
  )
  subnet_id = (
    local.create_vpc ? aws_subnet.this[0].id :
    var.subnet_id != null ? var.subnet_id : sort(data.aws_subnets.in_vpc[0].ids)[0]
  )
}

resource "aws_security_group" "runner" {
  #checkov:skip=CKV2_AWS_5:Attached to the instance by the gpu-runner module, which checkov scans separately
  name_prefix = "${var.name}-"
  description = "cmlinfra runner ${var.name}: SSH from the launcher only, egress on ${join("/", var.egress_ports)}"
  vpc_id      = local.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each          = toset(var.ssh_cidrs)
  security_group_id = aws_security_group.runner.id
  description       = "SSH from ${each.value} (the launcher)"
  ip_protocol       = "tcp"
  from_port         = var.ssh_port
  to_port           = var.ssh_port
  # Only IPv6 is written with ':' (cidrnetmask() accepts IPv6 too on Terraform 1.0).
  cidr_ipv4 = length(split(":", each.value)) == 1 ? each.value : null
  cidr_ipv6 = length(split(":", each.value)) == 1 ? null : each.value
  tags      = local.tags
}

# Only with allow_world_ssh = true; checkov (CKV_AWS_24) flags a configuration that sets it.
resource "aws_vpc_security_group_ingress_rule" "ssh_world_ipv4" {
  count             = var.allow_world_ssh ? 1 : 0
  security_group_id = aws_security_group.runner.id
  description       = "SSH from anywhere (allow_world_ssh = true)"
  ip_protocol       = "tcp"
  from_port         = var.ssh_port
  to_port           = var.ssh_port
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "ssh_world_ipv6" {
  count             = var.allow_world_ssh ? 1 : 0
  security_group_id = aws_security_group.runner.id
  description       = "SSH from anywhere over IPv6 (allow_world_ssh = true)"
  ip_protocol       = "tcp"
  from_port         = var.ssh_port
  to_port           = var.ssh_port
  cidr_ipv6         = "::/0"
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "tcp" {
  for_each          = toset([for p in var.egress_ports : tostring(p)])
  security_group_id = aws_security_group.runner.id
  description       = "TCP ${each.value} to anywhere (packages, forge, object storage)"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}
