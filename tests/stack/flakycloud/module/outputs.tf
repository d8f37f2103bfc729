output "address" {
  description = "Address of the machine."
  value       = "192.0.2.78"
}

output "instance_id" {
  description = "The machine's id in the flaky API."
  value       = "${var.name}.${var.zone}"
  depends_on  = [terraform_data.machine]
}
