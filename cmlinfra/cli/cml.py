"""CML's command line as it is written in workflows, turned into cmlinfra's before typer parses it.

A workflow written for iterative/cml 0.20 runs unchanged: the ``cml`` and ``cml-*`` executables
(pyproject.toml) land here, and so does ``cmlinfra`` itself, so both accept

- the deprecated spellings CML still takes (``cml publish`` → ``asset publish``, ``send-comment``
  → ``comment create``, ``send-github-check`` → ``check create``, ``rerun-workflow`` →
  ``workflow rerun``, ``runner --cloud …`` → ``runner launch``, ``pr PATHS`` → ``pr create``,
  ``repo prepare`` → ``ci``), each with the deprecation line CML prints;
- CML's global options anywhere: ``--log`` after the command, ``--driver``/``--repo``/
  ``--token`` before it;
- CML's environment: legacy prefixes (``CML_PUBLISH_*`` …), the global ``CML_DRIVER``/
  ``CML_REPO``/``CML_TOKEN`` fanned out to every command as CML does, the old ``RUNNER_*``
  names, the lowercase ``repo_token``; a ``CML_*`` variable no option reads is named in one
  warning instead of being dropped silently.

Stdlib only: this runs before every command, and ``--help`` must stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field

from cmlinfra.cli.commands import tensorboard as tensorboard_command

# CML's old environment prefixes → the ones its commands read now; ``CML_REPO_*`` is CML's
# ``repo prepare``, which is cmlinfra's ``ci`` (its options read ``CML_CI_*``).
LEGACY_PREFIXES = {
    "CML_PUBLISH_": "CML_ASSET_",
    "CML_RERUN_WORKFLOW_": "CML_WORKFLOW_",
    "CML_SEND_COMMENT_": "CML_COMMENT_",
    "CML_SEND_GITHUB_CHECK_": "CML_CHECK_",
    "CML_TENSORBOARD_DEV_": "CML_TENSORBOARD_",
    "CML_REPO_": "CML_CI_",
}
# CML's global options, read from CML_<OPTION> and given to every command (CML_<CMD>_<OPTION>)
GLOBAL_OPTIONS = ("DRIVER", "DRIVER_TOKEN", "REPO", "TOKEN")
# the command scopes those reach: CML's own, plus cmlinfra's commands that talk to a forge
SCOPES = ("ASSET", "CHECK", "COMMENT", "PR", "CI", "RUNNER", "WORKFLOW", "GC", "STACK", "EXEC")
# names CML read before its CML_RUNNER_* options existed
LEGACY_NAMES = {
    "TB_CREDENTIALS": "CML_TENSORBOARD_CREDENTIALS",
    "DOCKER_MACHINE": "CML_RUNNER_DOCKER_MACHINE",
    **{
        f"RUNNER_{name}": f"CML_RUNNER_{name}"
        for name in ("IDLE_TIMEOUT", "LABELS", "SINGLE", "REUSE", "NO_RETRY", "DRIVER", "REPO")
    },
    "RUNNER_PATH": "CML_RUNNER_PATH",
}
# read by cmlinfra outside any option (the root's, and the forge token's fallbacks)
READ_ELSEWHERE = {"CML_LOG", "CML_JSON", *(f"CML_{g}" for g in GLOBAL_OPTIONS)}

# deprecated command → (cmlinfra words, what CML's notice says to use)
LEGACY_COMMANDS = {
    "publish": (["asset", "publish"], "cml asset publish (or let cml comment create upload "
                "the images a report links)"),
    "send-comment": (["comment", "create"], "cml comment create"),
    "send-github-check": (["check", "create"], "cml check create"),
    "rerun-workflow": (["workflow", "rerun"], "cml workflow rerun"),
}  # fmt: skip
# one wording for `cml tensorboard connect` and `cmlinfra tensorboard connect` (owned there)
TENSORBOARD_GONE = (tensorboard_command.MESSAGE, tensorboard_command.INSTEAD)
FORWARDED = ("--driver", "--repo", "--token", "--driver-token")  # CML's global options
# CML's boolean options (yargs takes --name=true|false and --no-name for each); cmlinfra's
# flags take neither form, except where it has a --no- switch of its own
BOOLEANS = (
    "publish", "pr", "update", "watch", "md", "native", "publish-native", "rm-watermark",
    "gitlab-uploads", "single", "reuse", "reuse-idle", "no-retry", "skip-ci",
    "merge", "rebase", "squash", "auto-merge", "unshallow",
)  # fmt: skip
NEGATABLE = ("publish",)  # cmlinfra options with a --no-NAME form


def _booleans(args: list[str]) -> list[str]:
    """yargs spellings of CML's switches → click's: ``--publish=false`` → ``--no-publish``,
    ``--md=true`` → ``--md``, ``--pr=false`` / ``--no-pr`` → left out (false is the default)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name, eq, value = arg[2:].partition("=")
        if arg.startswith("--") and eq and name in BOOLEANS and value.lower() in TRUTH:
            on = TRUTH[value.lower()]
            if on:
                out.append(f"--{name}")
            elif name in NEGATABLE:
                out.append(f"--no-{name}")
            continue
        if arg.startswith("--no-") and not eq and arg[5:] in BOOLEANS and arg[5:] not in NEGATABLE:
            continue
        out.append(arg)
    return out


TRUTH = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
SPOT = "--cloud-spot"  # CML's switch; cmlinfra's also takes a value: auto (docs/failover.md)
SPOT_VALUES = frozenset({"auto", "true", "false", "yes", "no", "on", "off", "1", "0"})


def normalize_spot(args: list[str]) -> list[str]:
    """``--cloud-spot`` alone → ``--cloud-spot=true``; followed by one of its values (``auto``,
    ``true``…) → ``--cloud-spot=VALUE``; ``--no-cloud-spot`` → left out. Click options take a
    value or not, never maybe; this keeps CML's bare switch and gives it cmlinfra's values."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return out + args[i:]
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == SPOT and following.lower() in SPOT_VALUES:
            out.append(f"{SPOT}={following}")
            i += 2
            continue
        if arg != f"--no-{SPOT[2:]}":
            out.append(f"{SPOT}=true" if arg == SPOT else arg)
        i += 1
    return out


@dataclass
class Translated:
    argv: list[str]
    notices: list[str] = field(default_factory=list)  # deprecation lines, CML's wording


def _value_options(args: list[str], names: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split ``--name VALUE`` / ``--name=VALUE`` pairs for ``names`` out of ``args``
    (before a ``--`` only): (the rest, the pairs as ``--name=VALUE``)."""
    wanted, rest, taken = tuple(names), [], []
    items = iter(args)
    for arg in items:
        if arg == "--":
            rest += [arg, *items]
            break
        name, eq, value = arg.partition("=")
        if name in wanted:
            if not eq:
                value = next(items, "")
            taken.append(f"{name}={value}")
        else:
            rest.append(arg)
    return rest, taken


def _leading(args: list[str]) -> int:
    """How many leading arguments are root options (``--json``, ``--log X``, CML's globals)."""
    i = 0
    while i < len(args):
        name, eq, _ = args[i].partition("=")
        if name in ("--json", "--version", "-h", "--help") or (eq and name in ("--log",)):
            i += 1
        elif name in ("--log", *FORWARDED) and not eq:
            i += 2
        elif eq and name in FORWARDED:
            i += 1
        else:
            break
    return i


def translate(argv: Sequence[str], prog: str = "cml") -> Translated:
    """CML's command line → cmlinfra's (see the module docstring)."""
    from cmlinfra.errors import CmlinfraError

    args = normalize_spot(_booleans(list(argv)))
    # --log anywhere (CML takes it after the command too) → the root's
    args, logs = _value_options(args, ["--log"])
    head_n = _leading(args)
    head, words = args[:head_n], args[head_n:]
    # CML's global --driver/--repo/--token before the command → the command's own options
    head, globals_ = _value_options(head, FORWARDED)
    globals_ = [g.replace("--driver-token=", "--token=", 1) for g in globals_]
    notices: list[str] = []
    first = words[0] if words else ""
    rest = words[1:]
    if first in LEGACY_COMMANDS:
        new, use = LEGACY_COMMANDS[first]
        notices.append(f'"{prog} {first}" is deprecated, please use "{use}"')
        words = [*new, *rest]
    elif first == "tensorboard-dev" or (first == "tensorboard" and rest[:1] == ["connect"]):
        raise CmlinfraError(*TENSORBOARD_GONE)
    elif (
        first == "runner"
        and rest[:1]
        and rest[0].startswith("-")
        and rest[0]
        not in (
            "-h",
            "--help",
        )
    ):
        words = ["runner", "launch", *rest]  # CML's deprecated form without "launch"
    elif first == "pr" and rest[:1] and rest[0] not in ("create", "-h", "--help"):
        words = ["pr", "create", *rest]  # CML's `pr <paths>`
    elif first == "repo" and rest[:1] == ["prepare"]:
        words = ["ci", *rest[1:]]
    if globals_ and words:
        cut = words.index("--") if "--" in words else len(words)
        words = [*words[:cut], *globals_, *words[cut:]]
    elif globals_:
        head += globals_  # nothing to give them to: let the root say so
    log = [f"--log={logs[-1].partition('=')[2]}"] if logs else []
    return Translated([*log, *head, *words], notices)


# -- the environment ----------------------------------------------------------------------
def alias_environment(env: MutableMapping[str, str]) -> list[str]:
    """Rewrite CML's variables into the names cmlinfra's options read, in place, as CML itself
    does at start-up (the legacy names overwrite, the global options fan out). Returns the
    ``CML_*`` names the user set (for :func:`ignored_variables`)."""
    given = sorted(k for k in env if k.startswith("CML_") or k in LEGACY_NAMES)
    for key in list(env):
        for old, new in LEGACY_PREFIXES.items():
            if key.startswith(old):
                env[new + key[len(old) :]] = env[key]
    for option in GLOBAL_OPTIONS:
        value = env.get(f"CML_{option}")
        if value is not None:
            for scope in SCOPES:
                env[f"CML_{scope}_{option}"] = value
    for old, new in LEGACY_NAMES.items():
        if env.get(old):
            env[new] = env[old]
    if env.get("repo_token") and not env.get("REPO_TOKEN"):
        env["REPO_TOKEN"] = env["repo_token"]  # CML's inferToken reads the lowercase name too
    return given


def _envvars(command: object) -> set[str]:
    """Every variable an option of ``command`` (a click command tree) reads."""
    found: set[str] = set()
    for param in getattr(command, "params", []):
        envvar = getattr(param, "envvar", None)
        found.update([envvar] if isinstance(envvar, str) else list(envvar or []))
    for sub in getattr(command, "commands", {}).values():
        found |= _envvars(sub)
    return found


def ignored_variables(given: list[str], env: MutableMapping[str, str], built: object) -> list[str]:
    """The CML variables the user set that no cmlinfra option reads: those of the invoked
    command are known from ``built``; the whole tree is built only when some are left."""

    def unknown(known: set[str]) -> list[str]:
        left = []
        for name in given:
            target = LEGACY_NAMES.get(name, name)
            for old, new in LEGACY_PREFIXES.items():
                if name.startswith(old):
                    target = new + name[len(old) :]
            if name not in known and target not in known and name not in READ_ELSEWHERE:
                left.append(name)
        return left

    left = unknown(_envvars(built))
    if left:
        from cmlinfra.cli.app import build_command

        left = unknown(_envvars(build_command()))
    return left


def warn(message: str) -> None:
    print(f"cmlinfra: warning: {message}", file=sys.stderr)


# -- the executables ----------------------------------------------------------------------
def _run(words: list[str]) -> None:
    from cmlinfra.cli.app import main

    main([*words, *sys.argv[1:]], prog_name="cml")


def cml() -> None:
    """``cml …``: CML's command line."""
    _run([])


def cml_runner() -> None:
    """``cml-runner …`` = ``cml runner …`` (CML's link executables, as its bin/legacy/link)."""
    _run(["runner"])


def cml_send_comment() -> None:
    _run(["send-comment"])


def cml_publish() -> None:
    _run(["publish"])


def cml_send_github_check() -> None:
    _run(["send-github-check"])


def cml_tensorboard_dev() -> None:
    _run(["tensorboard-dev"])


def cml_pr() -> None:
    _run(["pr"])
