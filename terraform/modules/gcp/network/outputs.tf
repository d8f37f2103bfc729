output "network" {
  description = "The VPC network the runner lives in (self link when created here, else as given)."
  value       = local.network
}

output "subnetwork" {
  description = "The subnetwork to put the runner in; null: the network's subnetwork in the runner's region (auto-mode networks such as default)."
  value       = local.subnetwork
}

output "target_tag" {
  description = "Network tag the firewall rules apply to; give it to the instance (gpu-runner's network_tags)."
  value       = local.tag
}

output "created_network" {
  description = "Whether this module created the network (and so will delete it on destroy)."
  value       = var.create_network
}
