output "vpc_id" {
  description = "The VPC the runner lives in (created or given)."
  value       = local.vpc_id
}

output "subnet_id" {
  description = "The subnet to launch the runner in."
  value       = local.subnet_id
}

output "security_group_id" {
  description = "Security group allowing SSH from ssh_cidrs only, and egress on egress_ports."
  value       = aws_security_group.runner.id
}

output "created_vpc" {
  description = "Whether this module created the VPC (and so will delete it on destroy)."
  value       = local.create_vpc
}
