output "address" {
  description = "Address of the machine."
  value       = var.host
}

output "instance_id" {
  description = "user@host:port, unique per machine and login."
  value       = local.instance_id
}

output "ssh_user" {
  description = "SSH user."
  value       = var.user
}

output "ssh_port" {
  description = "SSH port."
  value       = var.port
}

output "host_key" {
  description = "Expected host key (empty when not given)."
  value       = var.host_key
}
