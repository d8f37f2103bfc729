output "address" {
  description = "Where to reach the runner over SSH: its static public IPv4 address."
  value       = azurerm_public_ip.this.ip_address
}

output "public_ip" {
  description = "The static public IPv4 address."
  value       = azurerm_public_ip.this.ip_address
}

output "private_ip" {
  description = "Private IPv4 address inside the virtual network."
  value       = azurerm_network_interface.this.private_ip_address
}

output "vm_id" {
  description = "Resource id of the VM; cmlinfra reads the SSH host keys from its boot diagnostics serial log."
  value       = azurerm_linux_virtual_machine.this.id
}

output "vm_name" {
  description = "Name of the VM."
  value       = azurerm_linux_virtual_machine.this.name
}

output "resource_group_name" {
  description = "The runner's resource group."
  value       = var.resource_group_name
}

output "ssh_user" {
  description = "Login user for SSH."
  value       = var.admin_username
}

output "ssh_port" {
  description = "TCP port of sshd."
  value       = var.ssh_port
}

output "location" {
  description = "Azure location of the runner."
  value       = azurerm_linux_virtual_machine.this.location
}

output "principal_id" {
  description = "Object id of the VM's system-assigned identity (null without self_delete)."
  value       = var.self_delete ? azurerm_linux_virtual_machine.this.identity[0].principal_id : null
}

output "spot" {
  description = "Whether the runner is a Spot VM."
  value       = var.spot
}
