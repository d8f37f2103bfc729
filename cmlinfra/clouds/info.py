"""What the registry knows about a cloud without loading it: its name, aliases, capabilities
and own CLI options. Every ``--help`` reads these for every cloud, so this module is kept apart
from the protocols (``base.py``, which re-exports it) and imports nothing but the stdlib."""

from __future__ import annotations

from dataclasses import dataclass

# The watchdog's default way to end a machine: on a cloud where a powered-off machine is
# deleted (LXD ephemeral containers, EC2 terminate-on-shutdown) this is the whole teardown.
POWER_OFF = "systemctl poweroff || poweroff || halt -p -f"
# A container machine's main process (``Capabilities.container``) hands the container over to
# this file as soon as it exists: ``runner launch`` installs its supervisor there, which then is
# the container's PID 1 — it starts the runner agent, ends the container when the runner must
# go, and is the process a SIGTERM (a deadline, a deletion) reaches. ``exec`` never installs it.
CONTAINER_INIT = "/usr/local/lib/cmlinfra/supervisor"


@dataclass(frozen=True)
class CloudOption:
    """An option only one cloud understands (CML's ``--cloud-aws-subnet``), declared by that
    cloud: the CLI adds it to every machine-creating command (with its ``CML_<GROUP>_…``
    variable), and a request carries it in ``MachineRequest.options[flag]``."""

    flag: str  # "--cloud-<cloud>-<what>", unique across clouds
    help: str
    aliases: tuple[str, ...] = ()  # other spellings, e.g. "--cloud-aws-subnet-id"
    # may be given more than once (CML's array options): the values reach the cloud joined
    # with commas, the way a single comma-separated value would
    multiple: bool = False

    @property
    def param(self) -> str:
        """The Python parameter name typer gives the option (``cloud_aws_subnet``)."""
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Interruption:
    """How a machine of this cloud hears that the cloud takes it back (a spot reclaim).

    The on-machine watcher (``runner/templates/reclaim.sh.j2``) runs ``probe`` as a bash
    function body every few seconds. It may call ``fetch METHOD URL [HEADER…]`` (prints the
    body; fails on a non-2xx answer or no answer) with ``$METADATA`` as the metadata service's
    base URL (``base_url``, or ``$CMLINFRA_METADATA_URL`` where the launcher was given one: a
    test's own server). The probe prints one line saying what was announced and succeeds when
    the machine is being taken back; it fails otherwise."""

    base_url: str  # the metadata service, without a trailing slash
    probe: str  # bash: see above
    watched: str  # what is watched, in words (docs/reclaim.md, --help)
    warning_seconds: int  # how long the cloud waits after the notice, at least


@dataclass(frozen=True)
class Capabilities:
    """What a cloud can do, for the code that must not ask which cloud it is."""

    creates_machines: bool = True  # False: an existing machine (launch/exec/bake refuse it)
    deleted_on_power_off: bool = True  # a machine that powers off is gone (and stops billing)
    spot: bool = False  # --cloud-spot works
    gpus: bool = False  # --cloud-gpu can give a GPU
    prices_known: bool = False  # hourly prices come from the catalog / the cloud's API
    has_inventory: bool = True  # lists and deletes cmlinfra's tagged machines (gc)
    images: bool = False  # image bake / image list
    # the stack holds nothing but the machine: deleting the machine through the API first is
    # the fast way to destroy it, and once the machine is gone nothing of the stack remains
    stack_is_machine: bool = False
    # the machine is a container (a Kubernetes pod): the node has the GPU driver and container
    # runtime, so only the container-side bootstrap steps run; there is no systemd (runner
    # launch installs a supervisor that the container's main process hands over to, at
    # CONTAINER_INIT, which runs the agent and the watchdog) and no SSH (the cloud's connect()
    # gives the Transport, e.g. the API's exec)
    container: bool = False
    # shell run as root by the on-machine watchdog to end the machine when it must go (idle,
    # single job done, max TTL); "" leaves the machine running (someone's own machine)
    watchdog_end: str = POWER_OFF
    # how a machine hears that it is taken back (spot reclaim); None: the cloud never says
    interruption: Interruption | None = None


@dataclass(frozen=True)
class CloudInfo:
    """What the registry knows about a cloud without loading it. Its package's
    ``__init__.py`` exposes it as ``INFO`` next to ``make_cloud()``, importing no SDK."""

    name: str  # --cloud NAME, and the cloud in records and findings
    title: str  # in sentences: "AWS", "LXD"
    summary: str  # a few words for --help: "EC2 instances"
    aliases: tuple[str, ...] = ()  # other names --cloud accepts (a future azure: "az")
    capabilities: Capabilities = Capabilities()
    options: tuple[CloudOption, ...] = ()
