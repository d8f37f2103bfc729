# Where a runner lives on Google Cloud: the project's default network, a given VPC/subnetwork,
# or a fresh VPC with one subnetwork; plus firewall rules, targeted by one network tag, whose
# only ingress is SSH from the launcher's CIDRs and whose egress is TCP on egress_ports only.

locals {
  tag = coalesce(var.target_tag, "cmlinfra-${var.name}")
  # GCP firewall rules hold IPv4 or IPv6 source ranges, never both: one rule per family.
  ssh_v4 = [for c in var.ssh_cidrs : c if can(cidrnetmask(c))]
  ssh_v6 = [for c in var.ssh_cidrs : c if !can(cidrnetmask(c))]
}

resource "google_compute_network" "this" {
  count                   = var.create_network ? 1 : 0
  name                    = var.name
  description             = "cmlinfra runner ${var.name}"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "this" {
  #checkov:skip=CKV_GCP_26:Flow logs would outlive a throw-away runner network and cost more than the runner; enable them on a long-lived VPC and pass its network/subnetwork instead
  count                    = var.create_network ? 1 : 0
  name                     = var.name
  network                  = google_compute_network.this[0].id
  region                   = var.region
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true
}

locals {
  network    = var.create_network ? google_compute_network.this[0].self_link : var.network
  subnetwork = var.create_network ? google_compute_subnetwork.this[0].self_link : var.subnetwork
}

resource "google_compute_firewall" "ssh_v4" {
  count         = length(local.ssh_v4) > 0 ? 1 : 0
  name          = "${var.name}-ssh"
  description   = "SSH to cmlinfra runner ${var.name} from the launcher only"
  network       = var.create_network ? google_compute_network.this[0].self_link : var.network
  direction     = "INGRESS"
  priority      = 1000
  source_ranges = local.ssh_v4
  target_tags   = [local.tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.ssh_port)]
  }

  log_config {
    metadata = "EXCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "ssh_v6" {
  count         = length(local.ssh_v6) > 0 ? 1 : 0
  name          = "${var.name}-ssh6"
  description   = "SSH over IPv6 to cmlinfra runner ${var.name} from the launcher only"
  network       = var.create_network ? google_compute_network.this[0].self_link : var.network
  direction     = "INGRESS"
  priority      = 1000
  source_ranges = local.ssh_v6
  target_tags   = [local.tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.ssh_port)]
  }

  log_config {
    metadata = "EXCLUDE_ALL_METADATA"
  }
}

# Only with allow_world_ssh = true; checkov (CKV_GCP_2) flags a configuration that sets it.
resource "google_compute_firewall" "ssh_world" {
  count         = var.allow_world_ssh ? 1 : 0
  name          = "${var.name}-ssh-world"
  description   = "SSH to cmlinfra runner ${var.name} from anywhere (allow_world_ssh = true)"
  network       = var.create_network ? google_compute_network.this[0].self_link : var.network
  direction     = "INGRESS"
  priority      = 1000
  source_ranges = ["0.0.0.0/0"]
  target_tags   = [local.tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.ssh_port)]
  }
}

# Egress: TCP on egress_ports anywhere, everything else denied for this runner's tag. The
# metadata server (tokens, DNS, NTP) is reached whatever the firewall says.
resource "google_compute_firewall" "egress" {
  count              = var.restrict_egress ? 1 : 0
  name               = "${var.name}-egress"
  description        = "cmlinfra runner ${var.name}: TCP ${join("/", var.egress_ports)} out"
  network            = var.create_network ? google_compute_network.this[0].self_link : var.network
  direction          = "EGRESS"
  priority           = 1000
  destination_ranges = ["0.0.0.0/0"]
  target_tags        = [local.tag]

  allow {
    protocol = "tcp"
    ports    = [for p in var.egress_ports : tostring(p)]
  }
}

resource "google_compute_firewall" "deny_egress" {
  count              = var.restrict_egress ? 1 : 0
  name               = "${var.name}-deny-egress"
  description        = "cmlinfra runner ${var.name}: no other egress"
  network            = var.create_network ? google_compute_network.this[0].self_link : var.network
  direction          = "EGRESS"
  priority           = 65000
  destination_ranges = ["0.0.0.0/0"]
  target_tags        = [local.tag]

  deny {
    protocol = "all"
  }
}
