"""The terraform engine: find the binary, render backends, run init/plan/apply/destroy, and
summarize plans. It knows nothing about clouds, runners or forges."""

from cmlinfra.terraform.backends import (
    AzurermBackend,
    Backend,
    GcsBackend,
    LocalBackend,
    S3Backend,
    parse_state_url,
    write_backend,
)
from cmlinfra.terraform.binary import TerraformBinary, find_terraform
from cmlinfra.terraform.engine import Workspace
from cmlinfra.terraform.plan import PlanSummary, ResourceChange, state_resources, summarize_plan

__all__ = [
    "AzurermBackend",
    "Backend",
    "GcsBackend",
    "LocalBackend",
    "PlanSummary",
    "ResourceChange",
    "S3Backend",
    "TerraformBinary",
    "Workspace",
    "find_terraform",
    "parse_state_url",
    "state_resources",
    "summarize_plan",
    "write_backend",
]
