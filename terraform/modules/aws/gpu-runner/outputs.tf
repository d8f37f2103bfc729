output "address" {
  description = "Where to reach the runner over SSH: its public IPv4 address, else its private one."
  value       = coalesce(aws_instance.this.public_ip, aws_instance.this.private_ip)
}

output "public_ip" {
  description = "Public IPv4 address (empty without associate_public_ip)."
  value       = aws_instance.this.public_ip
}

output "private_ip" {
  description = "Private IPv4 address inside the VPC."
  value       = aws_instance.this.private_ip
}

output "instance_id" {
  description = "EC2 instance id; cmlinfra reads the SSH host keys from its console output."
  value       = aws_instance.this.id
}

output "ssh_user" {
  description = "Login user for SSH."
  value       = var.ssh_user
}

output "ssh_port" {
  description = "TCP port of sshd."
  value       = var.ssh_port
}

output "ami_id" {
  description = "The image the runner booted."
  value       = local.ami_id
}

output "key_name" {
  description = "Name of the EC2 key pair holding ssh_public_key."
  value       = aws_key_pair.this.key_name
}

output "spot" {
  description = "Whether the runner is a spot instance."
  value       = var.spot
}

output "region" {
  description = "Region the runner lives in (for console-output and clean-up calls)."
  value       = data.aws_region.current.region
}
