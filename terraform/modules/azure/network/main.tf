# The runner's resource group and network: a new virtual network with one subnet, or an
# existing subnet given by id, plus a network security group whose only inbound rule is SSH
# from the caller's CIDR blocks and whose only outbound internet rules are egress_ports.

locals {
  resource_group_name = coalesce(var.resource_group_name, var.name)
  create_vnet         = var.subnet_id == null
  ipv4_cidrs          = [for c in var.ssh_cidrs : c if can(cidrnetmask(c))]
  ipv6_cidrs          = [for c in var.ssh_cidrs : c if !can(cidrnetmask(c))]
}

# One group per runner: ending the runner is deleting this group (what the machine's own
# end-of-life unit and `cmlinfra gc` do), so nothing of it can be left behind.
resource "azurerm_resource_group" "this" {
  name     = local.resource_group_name
  location = var.location
  tags     = var.tags
}

resource "azurerm_virtual_network" "this" {
  count               = local.create_vnet ? 1 : 0
  name                = "${var.name}-vnet"
  location            = var.location
  resource_group_name = azurerm_resource_group.this.name
  address_space       = [var.vnet_cidr]
  tags                = var.tags
}

resource "azurerm_subnet" "this" {
  count                = local.create_vnet ? 1 : 0
  name                 = "${var.name}-subnet"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this[0].name
  address_prefixes     = [var.subnet_cidr]
  # Outbound traffic leaves through the runner's own public address, never through Azure's
  # implicit default outbound access (being retired, and not under this NSG's egress rules).
  default_outbound_access_enabled = false
}

resource "azurerm_network_security_group" "this" {
  name                = "${var.name}-nsg"
  location            = var.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = var.tags
}

resource "azurerm_network_security_rule" "ssh_ipv4" {
  count                       = length(local.ipv4_cidrs) > 0 ? 1 : 0
  name                        = "ssh-from-launcher-ipv4"
  description                 = "SSH from the launcher (${join(", ", local.ipv4_cidrs)})"
  priority                    = 100
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = tostring(var.ssh_port)
  source_address_prefixes     = local.ipv4_cidrs
  destination_address_prefix  = "VirtualNetwork"
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.this.name
}

resource "azurerm_network_security_rule" "ssh_ipv6" {
  count                       = length(local.ipv6_cidrs) > 0 ? 1 : 0
  name                        = "ssh-from-launcher-ipv6"
  description                 = "SSH from the launcher (${join(", ", local.ipv6_cidrs)})"
  priority                    = 101
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = tostring(var.ssh_port)
  source_address_prefixes     = local.ipv6_cidrs
  destination_address_prefix  = "VirtualNetwork"
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.this.name
}

# Only with allow_world_ssh = true; checkov (CKV_AZURE_10) flags a configuration that sets it.
resource "azurerm_network_security_rule" "ssh_world" {
  count                       = var.allow_world_ssh ? 1 : 0
  name                        = "ssh-from-anywhere"
  description                 = "SSH from anywhere (allow_world_ssh = true)"
  priority                    = 110
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = tostring(var.ssh_port)
  source_address_prefix       = "*"
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.this.name
}

resource "azurerm_network_security_rule" "egress" {
  for_each                    = { for i, p in var.egress_ports : tostring(p) => i }
  name                        = "egress-tcp-${each.key}"
  description                 = "TCP ${each.key} to the internet (packages, forge, object storage, Azure Resource Manager)"
  priority                    = 100 + each.value
  direction                   = "Outbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = each.key
  source_address_prefix       = "VirtualNetwork"
  destination_address_prefix  = "Internet"
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.this.name
}

resource "azurerm_network_security_rule" "deny_other_egress" {
  name                        = "deny-other-internet-egress"
  description                 = "Nothing else leaves for the internet"
  priority                    = 4000
  direction                   = "Outbound"
  access                      = "Deny"
  protocol                    = "*"
  source_port_range           = "*"
  destination_port_range      = "*"
  source_address_prefix       = "*"
  destination_address_prefix  = "Internet"
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.this.name
}

resource "azurerm_subnet_network_security_group_association" "this" {
  count                     = local.create_vnet ? 1 : 0
  subnet_id                 = azurerm_subnet.this[0].id
  network_security_group_id = azurerm_network_security_group.this.id
}
