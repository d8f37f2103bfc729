"""Real installs on containers of the local LXD cloud (Debian 12, ``security.nesting=true``).

What needs an NVIDIA card or the internet cannot run here and is shimmed narrowly
(``fixtures/shims``, installed in ``/usr/local/sbin``, first on root's PATH): ``lspci``
reporting an H100, ``nvidia-smi`` and ``modprobe`` that work only after the driver's install
*and* a reboot, an ``apt-get`` that records installs of packages we cannot fetch, a ``curl``
that serves prepared downloads, ``gpg --dearmor``. Everything else — Docker, systemd, the
container's reboot, users, files, the apt sources edits — is real.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from cmlinfra.bootstrap.run import HostResult, bootstrap_host
from cmlinfra.bootstrap.ssh import connect
from cmlinfra.bootstrap.steps import Options, Step, build_steps
from tests.bootstrap.lxd_hosts import LxdHost, lxc
from tests.bootstrap.shell_hosts import H200, NOT_GPUS, REAL_H200, REPLAY, fake_pci
from tests.fixtures.sshd import wait_until

pytestmark = pytest.mark.lxd

FIXTURES = Path(__file__).parent / "fixtures"
TINY_IMAGE = FIXTURES / "tiny-image.sh"


def install_shims(host: LxdHost, downloads: dict[str, bytes] | None = None) -> None:
    for shim in (FIXTURES / "shims" / "bin").iterdir():
        host.push(shim.read_text(), f"/usr/local/sbin/{shim.name}")
    for item in (FIXTURES / "shims" / "share").iterdir():
        host.push(item.read_text(), f"/usr/local/share/cmlt-shim/{item.name}")
    gpus = (FIXTURES / "nvidia-smi" / "h100x8.query.csv").read_text()
    host.push(gpus, "/usr/local/share/cmlt-shim/gpus.csv", mode="0644")
    for name, data in (downloads or {}).items():
        host.push(data, f"/usr/local/share/cmlt-shim/downloads/{name}", mode="0644")


HOLD_DPKG_LOCK = """
import fcntl, os, time
lock = open("/var/lib/dpkg/lock-frontend", "w")
fcntl.lockf(lock, fcntl.LOCK_EX)  # the same fcntl lock apt and dpkg take
print("locked", flush=True)
while not os.path.exists("/run/cmlt-release"):
    time.sleep(0.1)
"""


def _apt_installing(host: LxdHost) -> bool:
    listing = host.exec(
        "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <\"$f\" 2>/dev/null; echo; done"
    )
    # `apt-get update` needs no dpkg lock; the install is the one that must wait
    return any(line.startswith("apt-get ") and " install " in line for line in listing.splitlines())


def statuses(result) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(s.name, s.status) for s in result.steps]


def test_docker_toolkit_and_gpu_check_on_a_real_docker(lxd_hosts) -> None:
    """Cold bootstrap installs Docker (docker.io) for real; the re-run skips it; a rootfs
    tarball imported with ``docker import`` runs without any registry. Then the container
    toolkit step registers the ``nvidia`` runtime with that real Docker (repository, package
    and ``nvidia-ctk`` shimmed), and ``gpu-check``, with everything it needs in place (the
    driver shimmed), fails the way real Docker does on a host without an NVIDIA card: a useful
    error naming the step."""
    host = lxd_hosts("docker-")
    steps = build_steps(Options(gpu=False))
    assert [s.name for s in steps] == ["detect", "docker"]

    # another package manager holds dpkg's lock when the bootstrap starts: apt waits for it
    holder = subprocess.Popen(
        ["lxc", "exec", host.name, "--", "python3", "-c", HOLD_DPKG_LOCK],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        outcome: list[HostResult] = []
        worker = threading.Thread(
            target=lambda: outcome.append(bootstrap_host(host.target(), steps, timeout=900))
        )
        worker.start()
        wait_until(lambda: _apt_installing(host), 300, "apt-get install waiting for the lock")
    finally:
        subprocess.run(["lxc", "exec", host.name, "--", "touch", "/run/cmlt-release"], check=False)
        holder.wait(60)
    worker.join(900)
    cold = outcome[0]
    assert cold.ok, (cold.error, cold.tail)
    assert statuses(cold) == [("detect", "done"), ("docker", "done")]
    assert cold.facts["os"] == "debian" and cold.facts["gpu"] == "none"
    assert host.exec("docker version --format '{{.Server.Version}}'").strip()

    again = bootstrap_host(host.target(), steps, wait=60, timeout=900)
    assert again.ok
    assert statuses(again) == [("detect", "done"), ("docker", "skipped")]
    assert again.steps[1].note.startswith("already done (docker ")

    with connect(host.target(), wait=30) as ssh:
        run = ssh.run(TINY_IMAGE.read_text(), timeout=300)
    assert run.exit_code == 0, run.tail
    entries = run.tail[-1].removeprefix("root: ").split()
    assert "bin" in entries and "proc" in entries and "usr" not in entries, run.tail

    install_shims(host, {"gpgkey": b"key\n", "nvidia-container-toolkit.list": (
        b"deb https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n")})  # fmt: skip
    host.exec("mkdir -p /var/lib/cmlt-shim && touch /var/lib/cmlt-shim/driver")  # nvidia-smi works
    gpu_steps = build_steps(
        Options(gpu_check_image="cmlt/tiny:1"), only=["nvidia-container-toolkit", "gpu-check"]
    )
    gpu = bootstrap_host(host.target(), gpu_steps, wait=60, timeout=300)
    assert statuses(gpu) == [("nvidia-container-toolkit", "done"), ("gpu-check", "failed")]
    assert '"nvidia"' in host.exec("docker info --format '{{json .Runtimes}}'")
    listing = host.exec("cat /etc/apt/sources.list.d/nvidia-container-toolkit.list")
    assert (
        "[signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://" in listing
    )
    assert gpu.error is not None and "step gpu-check failed with exit code 125" in gpu.error
    assert "could not select device driver" in gpu.error

    toolkit_again = bootstrap_host(host.target(), gpu_steps[:1], wait=60, timeout=300)
    assert statuses(toolkit_again) == [("nvidia-container-toolkit", "skipped")]


UBUNTU_RELEASE = 'ID=ubuntu\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n'


@pytest.mark.parametrize("os_id", ["debian", "ubuntu"])
def test_nvidia_driver_reboot_and_resume(lxd_hosts, os_id: str) -> None:
    """The driver paths: on Debian, non-free components enabled in the real sources and the
    driver packages requested; on Ubuntu (the Debian container's os-release says so, and
    ``ubuntu-drivers`` is shimmed) ``ubuntu-drivers install --gpgpu``. Then the module is
    missing until a reboot, the container really reboots, the step runs again and passes, and a
    re-run skips it and reads the GPUs."""
    host = lxd_hosts("gpu-")
    install_shims(host)
    if os_id == "ubuntu":
        host.push(UBUNTU_RELEASE, "/etc/os-release", mode="0644")
    steps = build_steps(Options(), only=["detect", "nvidia-driver"])

    cold = bootstrap_host(host.target(), steps, wait=60, timeout=300)
    assert cold.ok, (cold.error, cold.tail)
    assert statuses(cold) == [("detect", "done"), ("nvidia-driver", "done")]
    assert cold.facts["os"] == os_id
    assert cold.facts["gpu"] == "NVIDIA Corporation GH100 [H100 SXM5 80GB] [10de:2330] (rev a1)"
    assert cold.facts["nvidia_driver"] == "none"
    assert cold.steps[1].note == "rebooted; already done (driver 550.90.07)"
    kernel = host.exec("uname -r").strip()
    requested = host.exec("cat /var/log/cmlt-shim-apt.log")
    if os_id == "debian":
        assert f"--no-install-recommends linux-headers-{kernel} nvidia-driver" in requested
        sources = host.exec("cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources || true")
        assert "main contrib non-free non-free-firmware" in sources
    else:
        assert f"--no-install-recommends ubuntu-drivers-common linux-headers-{kernel}" in requested
        assert host.exec("cat /var/log/cmlt-shim-ubuntu-drivers.log") == "install --gpgpu\n"

    again = bootstrap_host(host.target(), steps, wait=60, timeout=300)
    assert statuses(again) == [("detect", "done"), ("nvidia-driver", "skipped")]
    assert again.facts["gpu"] == "8x NVIDIA H100 80GB HBM3"
    assert again.facts["nvidia_driver"] == "550.90.07"
    assert len(again.gpus) == 8 and again.gpus[0].memory_mib == 81559
    # the exit code alone (without the "reboot:" line) is a failure, never a reboot
    host.exec("touch /run/cmlt-same-boot")
    stray = bootstrap_host(host.target(), [Step("stray", "echo odd tool; exit 194")], wait=60)
    assert statuses(stray) == [("stray", "failed")] and stray.steps[0].exit_code == 194
    assert host.exec("ls /run/cmlt-same-boot").strip() == "/run/cmlt-same-boot"


def test_detect_with_a_driver_older_than_compute_cap(lxd_hosts) -> None:
    """A driver before 510 refuses any query naming compute_cap (shimmed with nvidia-smi's
    wording, on stdout, exit 2): detect asks again without it, and the facts and the GPUs come
    from that second answer — not "no driver", which would send the driver step reinstalling."""
    host = lxd_hosts("old-")
    install_shims(host)
    gpus = (FIXTURES / "nvidia-smi" / "t4-driver470.query.csv").read_text()
    host.push(gpus, "/usr/local/share/cmlt-shim/gpus.csv", mode="0644")
    host.push("", "/usr/local/share/cmlt-shim/legacy-driver", mode="0644")
    host.exec("mkdir -p /var/lib/cmlt-shim && touch /var/lib/cmlt-shim/driver")
    refused = host.exec("nvidia-smi --query-gpu=index,compute_cap --format=csv; echo rc=$?")
    assert refused.startswith('Field "compute_cap" is not a valid field') and "rc=2" in refused

    result = bootstrap_host(host.target(), build_steps(Options(), only=["detect"]), wait=60)
    assert result.ok, (result.error, result.tail)
    assert (result.facts["gpu"], result.facts["nvidia_driver"]) == ("1x Tesla T4", "470.256.02")
    assert [(g.name, g.memory_mib, g.compute_capability) for g in result.gpus] == [
        ("Tesla T4", 15360, None)
    ]


def _tarball(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_runner_agents_install_then_skip(lxd_hosts) -> None:
    """Each agent from its vendor's download URL (served by the curl shim with stand-in
    archives that answer ``--version`` like the real ones): installed where the lifecycle code
    expects it, under its own user, and skipped on the re-run."""
    host = lxd_hosts("agents-")
    versions = Options().agent_versions
    gh, gl, bb = versions["github"], versions["gitlab"], versions["bitbucket"]
    install_shims(host, {
        f"actions-runner-linux-x64-{gh}.tar.gz": _tarball({
            "bin/Runner.Listener": f"#!/bin/sh\necho {gh}\n",
            "bin/installdependencies.sh": "#!/bin/sh\necho dependencies ok\n",
            "config.sh": "#!/bin/sh\n",
        }),
        "gitlab-runner-linux-amd64": f"#!/bin/sh\necho 'Version:      {gl[1:]}'\n".encode(),
        f"atlassian-bitbucket-pipelines-runner-{bb}.tar.gz":
            _tarball({"bin/start.sh": "#!/bin/sh\n"}),
    })  # fmt: skip
    for agent in ("github", "gitlab", "bitbucket"):
        steps = build_steps(Options(gpu=False, runner_agent=agent), only=["runner-agent"])
        first = bootstrap_host(host.target(), steps, wait=60, timeout=300)
        assert statuses(first) == [("runner-agent", "done")], (agent, first.error, first.tail)
        second = bootstrap_host(host.target(), steps, wait=60, timeout=300)
        assert statuses(second) == [("runner-agent", "skipped")], agent
    urls = host.exec("cat /var/log/cmlt-shim-curl.log").split()
    assert urls == [
        f"https://github.com/actions/runner/releases/download/v{gh}/actions-runner-linux-x64-{gh}.tar.gz",
        f"https://gitlab-runner-downloads.s3.amazonaws.com/{gl}/binaries/gitlab-runner-linux-amd64",
        f"https://product-downloads.atlassian.com/software/bitbucket/pipelines/atlassian-bitbucket-pipelines-runner-{bb}.tar.gz",
    ]
    owners = host.exec(
        "stat -c %U /opt/actions-runner/bin/Runner.Listener "
        "/opt/atlassian-bitbucket-pipelines-runner/bin/start.sh"
    ).split()
    assert owners == ["runner", "bitbucket"]
    assert host.exec("id -u gitlab-runner").strip().isdigit()


def _fails_with(result: HostResult, host: LxdHost, step: str, line: str) -> None:
    assert result.error == (
        f"{host.name}: step {step} failed with exit code 1: {line}; see its last output lines "
        "above; fix the cause and re-run (finished steps are skipped)"
    ), result.tail
    assert sum(s.startswith("error:") for s in result.tail) == 1, result.tail


def test_missing_prerequisites_fail_in_one_line(lxd_hosts, tmp_path: Path) -> None:
    """A real Debian container made into the hosts the steps meet: its PCI bus is the H200
    machine's (a fake /sys/bus/pci/devices, bind-mounted by LXD as a disk device: a 3D
    controller only sysfs shows, no lspci), first without a driver, then with the H200's
    nvidia-smi (replaying the real captures) and no Docker — the machine where gpu-check died
    on ``docker: command not found`` — then without apt-get. Each failing step ends in one line
    naming what is missing and the step or option that provides it, and changes nothing."""
    host = lxd_hosts("lack-")
    pci = fake_pci(tmp_path / "pci", {**NOT_GPUS, **H200})
    lxc("config", "device", "add", host.name, "fakepci", "disk", f"source={pci}",
        "path=/sys/bus/pci/devices", "readonly=true")  # fmt: skip
    steps = {s.name: s for s in build_steps(Options())}

    def run(*names: str) -> HostResult:
        return bootstrap_host(host.target(), [steps[n] for n in names], wait=60, timeout=120)

    bare = run("detect", "gpu-check")
    assert (bare.facts["gpu"], bare.facts["gpu_pci"]) == (
        "1x NVIDIA [10de:2335] (no driver)",
        "0000:00:06.0",
    )
    _fails_with(bare, host, "gpu-check", (
        "the GPU check needs the NVIDIA driver (no nvidia-smi: the nvidia-driver step installs "
        "it, or use a --cloud-image that has it), Docker (the docker step installs it) and the "
        "NVIDIA container toolkit (the nvidia-container-toolkit step registers it with Docker)"
    ))  # fmt: skip

    replay = "/usr/local/lib/cmlt-replay"
    host.push(REPLAY.read_text(), f"{replay}/nvidia-smi")
    for capture in REAL_H200.iterdir():
        host.push(capture.read_bytes(), f"{replay}/real-h200/{capture.name}", mode="0644")
    host.exec(f"ln -s {replay}/nvidia-smi /usr/local/sbin/nvidia-smi")
    h200 = run("detect", "nvidia-driver", "gpu-check")
    assert statuses(h200) == [("detect", "done"), ("nvidia-driver", "skipped"),
                              ("gpu-check", "failed")]  # fmt: skip
    assert (h200.facts["gpu"], h200.facts["nvidia_driver"]) == ("1x NVIDIA H200", "580.159.04")
    assert [(g.name, g.memory_mib, g.compute_capability) for g in h200.gpus] == [
        ("NVIDIA H200", 143771, "9.0")
    ]
    _fails_with(h200, host, "gpu-check", (
        "the GPU check needs Docker (the docker step installs it) and the NVIDIA container "
        "toolkit (the nvidia-container-toolkit step registers it with Docker)"
    ))  # fmt: skip
    _fails_with(run("nvidia-container-toolkit"), host, "nvidia-container-toolkit", (
        "Docker is not installed; run the docker step before this one (the NVIDIA container "
        "toolkit registers itself with Docker)"
    ))  # fmt: skip

    # no driver and no apt-get (an image of another family): nothing is edited or installed
    host.exec("rm /usr/local/sbin/nvidia-smi && mv /usr/bin/apt-get /usr/bin/apt-get.hidden")
    sources = "cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true"
    before = host.exec(sources)
    _fails_with(run("nvidia-driver"), host, "nvidia-driver", (
        "the NVIDIA driver is not installed and this host has no apt-get to install it; use a "
        "Debian or Ubuntu image, or a --cloud-image that has the NVIDIA driver"
    ))  # fmt: skip
    _fails_with(run("docker"), host, "docker", (
        "Docker is not installed and this host has no apt-get to install it; use a Debian or "
        "Ubuntu image, or a --cloud-image that has Docker"
    ))  # fmt: skip
    assert host.exec(sources) == before
