"""The lxd cloud: runners as system containers on the local LXD daemon.

It is the local stand-in for a public cloud with the same lifecycle: Terraform creates the
container (module ``lxd/runner``), the container powers itself off at its max TTL and, being
ephemeral, LXD then deletes it — even if the launcher is gone.
"""

from __future__ import annotations

import getpass
from typing import Any

from cmlinfra.clouds import validate
from cmlinfra.clouds.base import (
    CloudInfo,
    ErrorKind,
    ImageStore,
    Inventory,
    MachineAddress,
    MachineRequest,
    ResolvedMachine,
    StackSpec,
    SweepScope,
)
from cmlinfra.clouds.lxd import INFO, catalog, errors, projects
from cmlinfra.clouds.lxd.api import FIX, LxdApi, LxdNotFound
from cmlinfra.clouds.lxd.tags import OWNER_LABEL, STACK_LABEL
from cmlinfra.clouds.modules import module_path
from cmlinfra.errors import UsageError
from cmlinfra.trace import span

PROVIDER = {"source": "terraform-lxd/lxd", "version": "1.5.0"}
HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key.pub"
OUTPUTS = ("address", "instance_id", "ssh_user", "ssh_port")
REFRESH_INTERVAL = "100ms"
BOOT_TIMEOUT = 90.0  # from start to the host key and an address: ≈ 1 s on an idle host


class LxdCloud:
    name = INFO.name
    info: CloudInfo = INFO

    def __init__(self, api: LxdApi | None = None) -> None:
        self.api = api or LxdApi()

    def check_reachable(self) -> None:
        self.api.ping()

    def validate(self, request: MachineRequest) -> tuple[catalog.Size, str]:
        """The checks that need no daemon (name, labels, size, region, unsupported options),
        so a typo is reported as such even when LXD is down."""
        validate.stack_name(request.name)
        validate.labels(request.metadata)
        size = catalog.size(request.cloud_type)
        region = catalog.region(request.region)
        validate.unsupported("lxd", "--cloud-hdd-size", request.hdd_size_gb)
        validate.unsupported("lxd", "--cloud-spot", request.spot)
        validate.unsupported("lxd", "--cloud-spot-price", request.spot_price)
        validate.unsupported("lxd", "--cloud-permission-set", request.permission_set)
        validate.unsupported("lxd", "--host", request.host)
        if request.max_ttl_seconds is not None and request.max_ttl_seconds <= 0:
            raise UsageError("--max-ttl must be positive", "give seconds, e.g. --max-ttl 3600")
        if request.max_ttl_seconds is not None:
            validate.duration(request.max_ttl_seconds, "--max-ttl")
        return size, region

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        size, region = self.validate(request)
        card = catalog.gpu(request.gpu, self.api.gpus() if request.gpu else [])
        image = request.image or catalog.DEFAULT_IMAGE
        project = projects.project(region)
        if project != projects.DEFAULT_PROJECT and not self.api.project_exists(project):
            raise UsageError(
                f"LXD project {project!r} does not exist (--cloud-region {region})",
                f"create it: lxc project create {project} -c features.images=false "
                "-c features.profiles=false, or pick another --cloud-region",
            )
        if not self.api.in_project(project).image_exists(image):
            fix = FIX if image == catalog.DEFAULT_IMAGE else "import it with 'lxc image import'"
            where = "" if project == projects.DEFAULT_PROJECT else f" in LXD project {project}"
            if where:
                fix = "create the project with features.images=false (it then shares the "
                fix += "default project's images), or import the image into it"
            raise UsageError(f"LXD image {image!r} does not exist{where}", fix)
        return ResolvedMachine(
            request=request,
            cloud=self.name,
            instance_type=request.cloud_type,
            region=region,
            gpu=None if card is None else str(card.get("product") or "gpu"),
            gpu_count=0 if card is None else 1,
            vcpus=size.cpu,
            memory_gib=size.memory_gib,
            hourly_price=0.0,  # the host is already paid for
            image=image,
            extra={
                "gpu_pci": "" if card is None else str(card.get("pci_address") or ""),
                "project": project,
            },
        )

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        request = machine.request
        labels = {
            **request.metadata,
            STACK_LABEL: request.name,
            OWNER_LABEL: _owner(),
        }
        expires = machine.extra.get("expires")
        variables: dict[str, Any] = {
            "name": request.name,
            "image": machine.image,
            "cpu": machine.vcpus,
            "memory": f"{machine.memory_gib:g}GiB",
            "nesting": True,
            "gpu": machine.gpu_count > 0,
            "gpu_pci": machine.extra.get("gpu_pci", ""),
            "ephemeral": request.ephemeral,
            "ssh_public_key": ssh_public_key,
            # address() reads the address from LXD as soon as it is there; the provider's own
            # wait polls every 3 s after its first look, which costs up to 3 s per launch
            "wait_for_network": False,
            "max_ttl_seconds": request.max_ttl_seconds or 0,
            "expires": str(int(expires)) if expires else "",
            "labels": labels,
        }
        provider: dict[str, Any] = {
            "generate_client_certificates": False,
            "accept_remote_certificate": False,
            # the provider sleeps this long before its first look at a container it started
            # or stopped (later looks are 3 s apart whatever it is): the default 10s adds ~15s
            # to create and destroy, 1s still adds 1s to each
            "refresh_interval": REFRESH_INTERVAL,
        }
        outputs = {name: f"module.runner.{name}" for name in OUTPUTS}
        project = str(machine.extra.get("project") or projects.DEFAULT_PROJECT)
        if project != projects.DEFAULT_PROJECT:  # the default project's stack is unchanged
            variables.update(remote=project, project=project)
            provider["config_dir"] = str(projects.client_config(project, self.api.path))
            outputs["project"] = "module.runner.project"
        return StackSpec(
            name=request.name,
            cloud=self.name,
            modules={"runner": (module_path("lxd", "runner"), variables)},
            providers={"lxd": provider},
            required_providers={"lxd": dict(PROVIDER)},
            outputs=outputs,
        )

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        """Where to SSH, the moment the container can answer: its host key exists (sshd starts
        right after the boot unit that writes it) and eth0 has its address. Both are read from
        LXD, polled every 0.1 s: the provider does not wait for the network (see stack())."""
        name = str(outputs["instance_id"])
        api = self.api.in_project(str(outputs.get("project") or projects.DEFAULT_PROJECT))
        with span("lxd: host key + address"):
            raw = api.wait_for_file(name, HOST_KEY_PATH, timeout=BOOT_TIMEOUT).decode()
            host = api.wait_for(
                lambda: self._bridge_address(name, api),
                f"container {name} has no IPv4 address on eth0",
                f"check its network with 'lxc exec {name} -- ip addr'",
                timeout=BOOT_TIMEOUT,
                name=name,
            )
        key_type, key, *_ = raw.split()
        return MachineAddress(
            host=host,
            port=int(outputs.get("ssh_port") or 22),
            user=str(outputs.get("ssh_user") or "root"),
            instance_id=name,
            host_keys=(f"{key_type} {key}",),
        )

    def _bridge_address(self, name: str, api: LxdApi | None = None) -> str | None:
        """eth0's IPv4 address, from LXD. terraform-lxd 1.5.0's ``ipv4_address`` is the first
        IPv4 address of *any* interface: on an image where Docker starts at boot (a baked one)
        that can be docker0's 172.17.0.1, which is not reachable from the launcher. A profile
        whose NIC has another name: the first global IPv4 address of a non-loopback interface."""
        try:
            state = (api or self.api).get(f"/1.0/instances/{name}/state") or {}
        except LxdNotFound:
            return None  # wait_for() tells a vanished container from a slow one
        network = state.get("network") or {}
        interfaces = ["eth0"] if "eth0" in network else [i for i in network if i != "lo"]
        for interface in interfaces:
            for address in (network.get(interface) or {}).get("addresses") or []:
                if address.get("family") == "inet" and address.get("scope") == "global":
                    return str(address["address"])
        return None

    def prepare_destroy(self, resources: list[dict[str, Any]]) -> list[str]:
        """Make ``terraform destroy`` work on what is left, and return the state addresses of
        containers that are already gone (the caller forgets them).

        terraform-lxd 1.5.0 fails on a container that vanished (its read errors instead of
        dropping it), and stopping an ephemeral container deletes it before the provider's own
        delete, which then fails too. So: gone → forget; still there → make it non-ephemeral
        and stop it (through LXD directly: much faster than the provider's polling stop), so
        the provider only has to delete it. A file pushed into a container
        (``lxd_container_file``) is always forgotten: it goes with the container, and the
        provider's delete of it fails when the file is gone (a baked image's clean-up removes
        ``authorized_keys``) or the container is.
        """
        vanished = []
        for resource in resources:
            values = resource.get("values") or {}
            if resource.get("type") == "lxd_container_file":
                vanished.append(str(resource["address"]))
                continue
            if resource.get("type") != "lxd_container":
                continue
            name = str(values.get("name", ""))
            # a remote of ours is named after its project ("" or local: the default project)
            project = projects.project(str(values.get("remote") or ""))
            api = self.api.in_project(project)
            if project != projects.DEFAULT_PROJECT:
                projects.client_config(project, self.api.path)  # the provider reads it to destroy
            record = api.instance(name)
            if record is None:
                vanished.append(str(resource["address"]))
            else:
                if record.get("ephemeral"):
                    api.patch(f"/1.0/instances/{name}", {"ephemeral": False})
                if record.get("status") == "Running":
                    api.stop(name)  # LXD's stop takes ≈ 1 s, the provider's ≈ 10 s
        return vanished

    def any_regions(self) -> tuple[str, ...]:
        """What ``--cloud-region any`` means here: ``local`` (the default project), then every
        other project of the daemon by name."""
        others = sorted(p for p in self.api.projects() if p != projects.DEFAULT_PROJECT)
        return (projects.LOCAL, *others)

    def instance_exists(self, name: str) -> bool:
        return self.api.instance(name) is not None

    def inventory(self, scope: SweepScope) -> Inventory:
        """Every container of the local daemon, in every project (its regions)."""
        from cmlinfra.clouds.lxd.inventory import LxdInventory

        return LxdInventory()

    def images(self, region: str | None = None) -> ImageStore:
        from cmlinfra.clouds.lxd.images import LxdImages

        return LxdImages(self.api)

    def cost_note(self, machine: ResolvedMachine) -> str:
        return "a container on the local LXD host, which is already paid for"

    def classify_error(self, error: BaseException | str) -> ErrorKind:
        return errors.classify_error(error)


def _owner() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
