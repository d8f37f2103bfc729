# One runner instance on Compute Engine: Shielded VM, GPUs attached or built in, spot or
# on-demand, a hard lifetime enforced by Google (max_run_duration, then DELETE), and a
# service account whose only permission is deleting this very instance, so the machine can
# end itself: a guest power-off alone would leave a TERMINATED instance whose disk still bills.

locals {
  # Families with GPUs built into the machine type; N1 is the only one that takes attached ones.
  builtin_gpu = can(regex("^(a2|a3|a4|g2|g4)-", var.machine_type))
  has_gpu     = local.builtin_gpu || var.gpu_count > 0
  create_sa   = var.service_account_email == null
  sa_email    = local.create_sa ? google_service_account.this[0].email : var.service_account_email
  labels = merge(var.labels, {
    "cmlinfra-stack"   = var.stack_id
    "cmlinfra-expires" = var.expires_at
    "managed-by"       = "cmlinfra"
  })
  metadata = merge(
    {
      # Only the stack's own key opens SSH; project-wide keys never reach this machine.
      "block-project-ssh-keys" = "true"
      "ssh-keys"               = "${var.ssh_user}:${trimspace(var.ssh_public_key)}"
      # OS Login would ignore ssh-keys; the per-stack key is the only way in.
      "enable-oslogin" = "FALSE"
      # The guest agent publishes the SSH host keys here (hostkeys/), read by cmlinfra through
      # the Compute API: the first SSH connection verifies the host, never trusts on first use.
      "enable-guest-attributes" = "TRUE"
      "serial-port-enable"      = "FALSE"
    },
    var.startup_script == null ? {} : { "startup-script" = var.startup_script },
  )
}

# The runner's identity: no project role at all, only delete on its own instance (below).
resource "google_service_account" "this" {
  count        = local.create_sa ? 1 : 0
  account_id   = "cml-${substr(sha1(var.name), 0, 12)}"
  display_name = "cmlinfra runner ${var.name}"
  description  = "Runs cmlinfra runner ${var.name}; may only delete that instance (self-delete)."
}

resource "google_compute_instance" "this" {
  #checkov:skip=CKV_GCP_40:The launcher bootstraps the runner over SSH from outside the VPC; the firewall admits only the launcher's CIDR (associate_public_ip = false turns the address off)
  #checkov:skip=CKV_GCP_38:The boot disk is encrypted by Google-managed keys; a customer-managed key is optional (kms_key_self_link) because CSEK/CMEK needs a key ring most CI projects do not have
  name                      = var.name
  machine_type              = var.machine_type
  zone                      = var.zone
  tags                      = var.network_tags
  labels                    = local.labels
  metadata                  = local.metadata
  can_ip_forward            = false
  deletion_protection       = false
  allow_stopping_for_update = false

  boot_disk {
    auto_delete       = true
    kms_key_self_link = var.kms_key_self_link

    initialize_params {
      image  = var.image
      size   = var.boot_disk_size_gb
      type   = var.boot_disk_type
      labels = local.labels
    }
  }

  network_interface {
    network    = var.network
    subnetwork = var.subnetwork

    dynamic "access_config" {
      for_each = var.associate_public_ip ? [1] : []
      content {
        network_tier = "PREMIUM"
      }
    }
  }

  dynamic "guest_accelerator" {
    for_each = var.gpu_count > 0 ? [1] : []
    content {
      type  = var.gpu_type
      count = var.gpu_count
    }
  }

  scheduling {
    # GPU machines cannot live-migrate; spot ones are never restarted.
    on_host_maintenance = local.has_gpu || var.spot ? "TERMINATE" : "MIGRATE"
    automatic_restart   = !var.spot
    preemptible         = var.spot
    provisioning_model  = var.spot ? "SPOT" : "STANDARD"
    # The hard lifetime, enforced by Compute Engine itself even if the guest is wedged.
    instance_termination_action = "DELETE"

    max_run_duration {
      seconds = var.max_run_duration_seconds
    }
  }

  shielded_instance_config {
    enable_secure_boot          = var.secure_boot
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  service_account {
    email  = local.sa_email
    scopes = var.service_account_scopes
  }

  lifecycle {
    # A newer image must not replace a running runner; the next stack picks it up.
    ignore_changes = [boot_disk[0].initialize_params[0].image]
  }
}

# Self-delete: the runner's service account may delete this instance and nothing else
# (instance-level IAM; the role holds compute.instances.delete only, see README).
resource "google_compute_instance_iam_member" "self_delete" {
  count         = var.self_delete_role == null ? 0 : 1
  project       = google_compute_instance.this.project
  zone          = google_compute_instance.this.zone
  instance_name = google_compute_instance.this.name
  role          = var.self_delete_role
  member        = "serviceAccount:${local.sa_email}"
}
