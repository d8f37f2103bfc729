output "resource_group_name" {
  description = "The runner's resource group; deleting it ends the runner."
  value       = azurerm_resource_group.this.name
}

output "resource_group_id" {
  description = "Resource id of the group (the scope of the machine's self-delete role)."
  value       = azurerm_resource_group.this.id
}

output "location" {
  description = "Azure location of the group."
  value       = azurerm_resource_group.this.location
}

output "subnet_id" {
  description = "Subnet to put the runner's network interface in."
  value       = local.create_vnet ? azurerm_subnet.this[0].id : var.subnet_id
}

output "network_security_group_id" {
  description = "Network security group for the runner's network interface (SSH from ssh_cidrs only)."
  value       = azurerm_network_security_group.this.id
}

output "created_vnet" {
  description = "Whether this module created the virtual network."
  value       = local.create_vnet
}
