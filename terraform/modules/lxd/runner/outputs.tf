output "address" {
  description = "IPv4 address of the container on the LXD bridge."
  value       = lxd_container.this.ipv4_address
}

output "instance_id" {
  description = "Container name."
  value       = lxd_container.this.name
}

output "ssh_user" {
  description = "User the SSH public key is authorized for."
  value       = "root"
}

output "ssh_port" {
  description = "SSH port."
  value       = 22
}

output "project" {
  description = "The LXD project the container is in."
  value       = var.project
}
