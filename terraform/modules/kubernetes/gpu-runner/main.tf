# A CI runner (or a one-off exec job) as the single pod of a Kubernetes Job: it asks for the
# GPUs in its limits, lands on the nodes the selector and tolerations allow, gets no API rights
# and no inbound traffic, and cannot outlive its deadline.

locals {
  labels = merge(var.labels, {
    "cmlinfra.dev/stack"           = var.name
    "app.kubernetes.io/managed-by" = "cmlinfra"
  })
  secret_name = var.secret_name != "" ? var.secret_name : "${var.name}-registration"
  limits = merge(
    { cpu = var.cpu, memory = var.memory },
    var.gpu_count > 0 ? { (var.gpu_resource) = tostring(var.gpu_count) } : {},
    var.ephemeral_storage != "" ? { "ephemeral-storage" = var.ephemeral_storage } : {},
  )
  requests = merge(
    { cpu = var.cpu, memory = var.memory },
    var.ephemeral_storage != "" ? { "ephemeral-storage" = var.ephemeral_storage } : {},
  )
  service_account = var.service_account_name != "" ? var.service_account_name : kubernetes_service_account_v1.runner[0].metadata[0].name
}

# The pod's identity: no token mounted, no role bound, so it has no rights on the API.
resource "kubernetes_service_account_v1" "runner" {
  count = var.service_account_name == "" ? 1 : 0

  metadata {
    name        = var.name
    namespace   = var.namespace
    labels      = merge(local.labels, { "app.kubernetes.io/component" = "identity" })
    annotations = var.annotations
  }

  automount_service_account_token = false
}

# Nothing may connect to the runner; it connects out (to the forge, registries) on its own.
resource "kubernetes_network_policy_v1" "deny_ingress" {
  metadata {
    name        = "${var.name}-deny-ingress"
    namespace   = var.namespace
    labels      = merge(local.labels, { "app.kubernetes.io/component" = "network" })
    annotations = var.annotations
  }

  spec {
    pod_selector {
      match_labels = { "cmlinfra.dev/stack" = var.name }
    }
    policy_types = ["Ingress"]
  }
}

resource "kubernetes_job_v1" "runner" {
  metadata {
    name        = var.name
    namespace   = var.namespace
    labels      = merge(local.labels, { "app.kubernetes.io/component" = "job" })
    annotations = var.annotations
  }

  spec {
    backoff_limit              = 0 # a failed runner is not retried on another pod
    completions                = 1
    parallelism                = 1
    active_deadline_seconds    = var.active_deadline_seconds
    ttl_seconds_after_finished = var.ttl_seconds_after_finished

    template {
      metadata {
        labels      = merge(local.labels, { "app.kubernetes.io/component" = "runner" })
        annotations = var.annotations
      }

      spec {
        restart_policy                   = "Never"
        service_account_name             = local.service_account
        automount_service_account_token  = false
        enable_service_links             = false
        node_selector                    = var.node_selector
        runtime_class_name               = var.runtime_class_name
        termination_grace_period_seconds = 30

        dynamic "toleration" {
          for_each = var.tolerations
          content {
            key      = toleration.value.key
            operator = toleration.value.operator
            value    = toleration.value.value
            effect   = toleration.value.effect
          }
        }

        security_context {
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        # Root in the container (bootstrap steps and CI jobs install packages, as on a VM
        # runner) on a writable filesystem, but without privilege escalation, with only the
        # capabilities below, no API rights and no inbound traffic.
        container {
          name              = "runner"
          image             = var.image
          image_pull_policy = "IfNotPresent"
          command           = var.command

          resources {
            limits   = local.limits
            requests = local.requests
          }

          security_context {
            allow_privilege_escalation = false
            privileged                 = false
            capabilities {
              drop = ["ALL"]
              # root in the container may still own files, switch to the agent's user, and
              # signal its own processes; nothing more
              add = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
            }
          }

          volume_mount {
            name       = "registration"
            mount_path = "/etc/cmlinfra/secrets"
            read_only  = true
          }
        }

        volume {
          name = "registration"
          secret {
            secret_name  = local.secret_name
            optional     = true # created once the runner is registered, after the Job
            default_mode = "0400"
          }
        }
      }
    }
  }

  # The launcher waits for the pod itself (it reads the scheduler's reasons); the provider
  # must not wait for a runner to complete.
  wait_for_completion = false

  timeouts {
    create = "2m"
    update = "2m"
    delete = "5m"
  }
}
