output "address" {
  description = "Address of the machine."
  value       = "192.0.2.77"
}

output "instance_id" {
  description = "The machine's id in the fake API."
  value       = local.instance_id
}

output "ssh_user" {
  description = "SSH user."
  value       = "fake"
}

output "ssh_port" {
  description = "SSH port."
  value       = 22
}
