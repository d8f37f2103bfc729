"""Stacks: one runner's Terraform configuration (composed with cdktn), its working directory
and SSH key pair, and the render/plan/apply/destroy/show operations on it."""
