# One runner VM: SSH key only, static Standard public address, boot diagnostics on (the host
# keys are read from its serial log), optionally Spot with eviction that deletes, and a
# managed identity allowed to delete the runner's own resource group, so that the machine can
# end itself (Azure keeps billing a VM that merely powered off).

locals {
  tags = merge(var.tags, {
    "cmlinfra:stack"   = var.stack_id
    "cmlinfra:repo"    = var.owner_repo
    "cmlinfra:expires" = var.expires_at
  })
  identity_type = join(", ", compact([
    var.self_delete ? "SystemAssigned" : "",
    length(var.user_assigned_identity_ids) > 0 ? "UserAssigned" : "",
  ]))
}

resource "azurerm_public_ip" "this" {
  name                = "${var.name}-ip"
  location            = var.location
  resource_group_name = var.resource_group_name
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = local.tags
}

resource "azurerm_network_interface" "this" {
  name                = "${var.name}-nic"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = local.tags
  #checkov:skip=CKV_AZURE_119:The launcher bootstraps the runner over SSH from outside Azure; the network security group admits only the launcher's address

  ip_configuration {
    name                          = "primary"
    subnet_id                     = var.subnet_id
    private_ip_address_allocation = "Dynamic"
    public_ip_address_id          = azurerm_public_ip.this.id
  }
}

resource "azurerm_network_interface_security_group_association" "this" {
  network_interface_id      = azurerm_network_interface.this.id
  network_security_group_id = var.network_security_group_id
}

resource "azurerm_linux_virtual_machine" "this" {
  name                            = var.name
  computer_name                   = var.name
  resource_group_name             = var.resource_group_name
  location                        = var.location
  size                            = var.vm_size
  admin_username                  = var.admin_username
  disable_password_authentication = true
  network_interface_ids           = [azurerm_network_interface.this.id]
  custom_data                     = var.custom_data == null ? null : base64encode(var.custom_data)
  source_image_id                 = var.source_image_id
  provision_vm_agent              = true
  allow_extension_operations      = false
  priority                        = var.spot ? "Spot" : "Regular"
  # An evicted Spot VM is deleted with its disk instead of left deallocated.
  eviction_policy = var.spot ? "Delete" : null
  max_bid_price   = var.spot ? var.max_bid_price : null
  tags            = local.tags

  admin_ssh_key {
    username   = var.admin_username
    public_key = trimspace(var.ssh_public_key)
  }

  os_disk {
    name                 = "${var.name}-os"
    caching              = "ReadWrite"
    storage_account_type = var.os_disk_type
    disk_size_gb         = var.os_disk_size_gb
  }

  dynamic "source_image_reference" {
    for_each = var.source_image_id == null ? [var.source_image] : []
    content {
      publisher = source_image_reference.value.publisher
      offer     = source_image_reference.value.offer
      sku       = source_image_reference.value.sku
      version   = source_image_reference.value.version
    }
  }

  # Managed boot diagnostics (no storage account): the serial log is where cmlinfra reads
  # the SSH host keys that cloud-init prints, through an ARM-authenticated call.
  boot_diagnostics {}

  dynamic "identity" {
    for_each = local.identity_type == "" ? [] : [local.identity_type]
    content {
      type         = identity.value
      identity_ids = length(var.user_assigned_identity_ids) > 0 ? var.user_assigned_identity_ids : null
    }
  }

  lifecycle {
    # A newer "latest" image must not replace a running runner; the next stack picks it up.
    ignore_changes = [source_image_reference]
  }
}

# The machine's right to delete its own group, and nothing outside it.
resource "azurerm_role_assignment" "self_delete" {
  count                = var.self_delete ? 1 : 0
  scope                = var.resource_group_id
  role_definition_name = var.self_delete_role
  principal_id         = azurerm_linux_virtual_machine.this.identity[0].principal_id
  principal_type       = "ServicePrincipal"
  description          = "cmlinfra runner ${var.name}: deletes its own resource group when it powers off"
}
