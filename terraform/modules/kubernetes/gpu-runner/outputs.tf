output "namespace" {
  description = "Namespace of the Job."
  value       = kubernetes_job_v1.runner.metadata[0].namespace
}

output "job_name" {
  description = "Name of the Job (its pod carries the label job-name=<this>)."
  value       = kubernetes_job_v1.runner.metadata[0].name
}

output "job_uid" {
  description = "UID of the Job: the owner reference of the registration Secret."
  value       = kubernetes_job_v1.runner.metadata[0].uid
}

output "instance_id" {
  description = "namespace/name of the Job."
  value       = "${kubernetes_job_v1.runner.metadata[0].namespace}/${kubernetes_job_v1.runner.metadata[0].name}"
}

output "address" {
  description = "namespace/name of the Job: the runner is reached through the API's exec, not an IP."
  value       = "${kubernetes_job_v1.runner.metadata[0].namespace}/${kubernetes_job_v1.runner.metadata[0].name}"
}

output "secret_name" {
  description = "Name of the registration Secret the pod mounts."
  value       = local.secret_name
}

output "service_account_name" {
  description = "ServiceAccount the pod runs as."
  value       = local.service_account
}
