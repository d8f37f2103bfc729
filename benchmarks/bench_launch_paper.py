"""Time to a ready runner on AWS, GCP and Azure, on paper: which phases the cloud dominates,
and so which of the launch's cuts matter there (none of these clouds can be reached here).

Nothing is measured by this topic: the cmlinfra-side rows restate what ``lifecycle`` and
``aws`` measure on this machine, and the cloud-side rows are orders of magnitude of the
clouds' documented behaviour (instance creation, boot to sshd, image first read), written
down so that a cut made for the local cloud is checked against a real one before it is kept.
"""

from __future__ import annotations

from benchmarks.common import Row, Section

# (phase, LXD here, AWS, GCP, Azure, the cut and whether it matters on a real cloud)
PHASES: tuple[tuple[str, str, str, str, str, str], ...] = (
    (
        "checks: forge, cloud look-ups, terraform found",
        "≈ 0.5 s",
        "+ ≈ 7 EC2/pricing calls (0.3 s against moto)",
        "+ image and machine-type look-ups",
        "+ resource SKU listing (large)",
        "kept: refusing bad input before anything exists; cdktn's start-up now overlaps it",
    ),
    (
        "stack synthesis (cdktn)",
        "≈ 0.3 s after the overlap",
        "same (two HCL modules)",
        "same",
        "same",
        "small everywhere; `--count` synthesizes N stacks in one node process",
    ),
    (
        "terraform init",
        "≈ 0.1 s (provider from the local mirror)",
        "provider download unless mirrored: hundreds of MB unpacked, seconds per stack",
        "as AWS",
        "as AWS",
        "matters on a fresh CI machine: a provider mirror (CMLINFRA_PROVIDER_MIRROR); a "
        "shared cache across one `--count` launch is the next cut (terraform ≥ 1.4 ignores "
        "the cache for a stack without a lock file)",
    ),
    (
        "terraform processes around the apply",
        "plan, show, state pull, output: ≈ 1 s, now none",
        "each process starts the provider again; the AWS provider is far larger than "
        "terraform-lxd, so each start costs more",
        "as AWS",
        "as AWS",
        "kept and extended: one `apply` for a new stack, also on S3 state when the launcher "
        "holds the name",
    ),
    (
        "resource creation",
        "≈ 1.2 s (LXD create ≈ 0.3 s, start ≈ 0.85 s; ≈ 1.85 s when a file was pushed "
        "into the stopped container, as before)",
        "security group, key pair, instance until `running`: ≈ 10-20 s",
        "instance insert operation: ≈ 10-20 s",
        "NIC, public IP, NSG, VM: ≈ 30-90 s",
        "the cloud's; the provider's own polling adds to it (terraform-lxd: refresh_interval "
        "and a 3 s re-look, now avoided; AWS and the others poll their operations too)",
    ),
    (
        "boot to sshd (and the host key)",
        "≈ 0.5 s (an Ed25519 key made at first boot; `ssh-keygen -A`'s RSA key cost 0.5-1.3 s)",
        "≈ 20-40 s of boot and cloud-init; the host key is read from the console output, "
        "polled at most 4 s apart (was 10 s)",
        "≈ 15-30 s",
        "≈ 30-60 s",
        "matters: SSH retries are now at most 3 s apart (were 10 s: ≈ 5 s lost per launch "
        "on average); so are the host-key polls of AWS, GCP and Azure (4 s apart, were 10 "
        "s: ≈ 3 s saved per launch on average); a baked image's own key unit makes only the "
        "Ed25519 key where cloud-init does not run",
    ),
    (
        "first reads of the image",
        "none (btrfs snapshot of a local image)",
        "EBS volumes from a snapshot load blocks on first read: a large GPU image boots and "
        "installs slower the first time",
        "persistent disk from an image: similar, smaller effect",
        "managed disk from an image: similar",
        "bake the slow steps into the image (`cmlinfra image bake`): fewer first reads",
    ),
    (
        "bootstrap",
        "≈ 0.07 s (detect); docker ≈ 6.5 s cold",
        "NVIDIA driver + toolkit + docker + runner agent: minutes cold, seconds on a baked "
        "AMI (each step checks its result)",
        "as AWS",
        "as AWS",
        "dominates cold; a baked image removes it (see the images topic)",
    ),
    (
        "forge registration",
        "≈ 0.01 s (the fake forge), beside the boot, the SSH wait and the bootstrap",
        "one or two HTTPS round trips from the CI job to the forge: ≈ 0.2-1 s",
        "same",
        "same",
        "asked for the moment the machine exists, so it overlaps the boot and the bootstrap "
        "(tens of seconds on a cloud) instead of following them",
    ),
    (
        "agent secret + watchdog + agent start",
        "≈ 0.5 s (one systemd reload where there were four)",
        "≈ 0.5 s: one SFTP write, three short SSH scripts",
        "same",
        "same",
        "small everywhere",
    ),
)


def run() -> Section:
    section = Section(
        "Time to a ready runner on AWS, GCP and Azure (on paper)",
        "python benchmarks/run.py launch_paper",
    )
    section.rows += [
        Row(
            "LXD, this machine",
            "≈ 2.7 s",
            "",
            "a bare `lxc launch` answering SSH: ≈ 1 s; cmlinfra's own work is ≈ 1.7 s of it",
        ),
        Row("AWS, GPU instance, cold image", "minutes", "", "driver install and boot dominate"),
        Row("AWS, GPU instance, baked image", "≈ 1 min", "", "creation + boot dominate"),
        Row("GCP / Azure, baked image", "≈ 1 / 1-2 min", "", "creation + boot dominate"),
    ]
    section.notes += [
        "Not measured: none of these clouds is reachable here. The LXD column is the "
        "`lifecycle` topic's breakdown; the cloud columns are orders of magnitude from the "
        "clouds' documented behaviour, so read them as which phase dominates, not as timings.",
        "",
        "| phase | LXD (here) | AWS | GCP | Azure | the cut, and whether it matters on a cloud |",
        "|---|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in PHASES),
    ]
    return section
