"""Runners on Azure as gc sees them: resource groups carrying cmlinfra's tags, judged by their
VM's power state, deleted whole through ARM's asynchronous delete."""

from __future__ import annotations

from cmlinfra.clouds.azure.inventory import AzureInventory, delete_group
from tests.fixtures.azure import Arm

TAGS = {
    "cmlinfra:stack": "cml-a",
    "cmlinfra:expires": "2020-01-01T00:00:00Z",
    "cmlinfra-role": "runner",
}


def test_groups_carry_stack_expiry_role_and_power_state(arm: Arm) -> None:
    arm.state.add_vm("cml-a", "cml-a", "westus2", TAGS, power="stopped")
    later = {"cmlinfra:stack": "cml-b", "cmlinfra:expires": "2999-01-01T00:00:00Z"}
    arm.state.add_vm("cml-b", "cml-b", "eastus", {**TAGS, **later, "cmlinfra-role": "stack"})
    arm.state.add_group("cml-c", "eastus", {"cmlinfra:stack": "cml-c"})  # its VM already gone
    arm.state.add_group("someone-elses", "eastus", {"team": "web"})
    found = {m.id: m for m in AzureInventory().machines()}
    assert set(found) == {"cml-a", "cml-b", "cml-c"}
    a = found["cml-a"]
    assert (a.stack, a.region, a.state, a.role) == ("cml-a", "westus2", "stopped", "runner")
    assert a.expires == 1577836800.0
    assert found["cml-b"].state == "running" and found["cml-b"].role == "stack"
    assert found["cml-c"].state == "empty" and found["cml-c"].expires is None


def test_a_group_being_deleted_is_reported_so(arm: Arm) -> None:
    arm.state.add_vm("cml-a", "cml-a", tags=TAGS)
    arm.state.groups["cml-a"]["properties"]["provisioningState"] = "Deleting"
    assert [m.state for m in AzureInventory().machines()] == ["deleting"]


def test_delete_polls_until_arm_is_done_and_is_idempotent(arm: Arm) -> None:
    arm.state.add_vm("cml-a", "cml-a", tags=TAGS)
    arm.state.polls = 2  # ARM answers "still deleting" twice
    (machine,) = AzureInventory().machines()
    AzureInventory().delete(machine)
    assert arm.state.groups == {} and arm.state.resources == {}
    delete_group("cml-a")  # already gone: fine
    assert arm.called("ResourceGroups_Delete") == ["ResourceGroups_Delete"] * 2
