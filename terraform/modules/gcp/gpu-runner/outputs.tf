output "address" {
  description = "Where to reach the runner over SSH: its public IPv4 address, else its internal one."
  value       = coalesce(try(google_compute_instance.this.network_interface[0].access_config[0].nat_ip, ""), google_compute_instance.this.network_interface[0].network_ip)
}

output "public_ip" {
  description = "Ephemeral public IPv4 address (empty without associate_public_ip)."
  value       = try(google_compute_instance.this.network_interface[0].access_config[0].nat_ip, "")
}

output "private_ip" {
  description = "Internal IPv4 address in the subnetwork."
  value       = google_compute_instance.this.network_interface[0].network_ip
}

output "instance_id" {
  description = "Instance name, which the Compute API addresses it by (with project and zone); cmlinfra reads the SSH host keys from its guest attributes."
  value       = google_compute_instance.this.name
}

output "instance_number" {
  description = "Server-assigned numeric instance id."
  value       = google_compute_instance.this.instance_id
}

output "project" {
  description = "Project the runner lives in."
  value       = google_compute_instance.this.project
}

output "zone" {
  description = "Zone the runner lives in."
  value       = google_compute_instance.this.zone
}

output "region" {
  description = "Region of the zone."
  value       = join("-", slice(split("-", google_compute_instance.this.zone), 0, 2))
}

output "ssh_user" {
  description = "Login user for SSH (the ssh-keys metadata entry)."
  value       = var.ssh_user
}

output "ssh_port" {
  description = "TCP port of sshd."
  value       = var.ssh_port
}

output "image" {
  description = "The image the runner booted."
  value       = var.image
}

output "service_account_email" {
  description = "The runner's service account (created here, or the one given)."
  value       = local.sa_email
}

output "spot" {
  description = "Whether the runner is a Spot VM."
  value       = var.spot
}
