"""The plan review comment, from a real Terraform plan (built-in ``terraform_data`` resources,
so no provider download) summarized by the engine, and from the engine's ``PlanSummary``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from cmlinfra.report.plan import as_diff, plan_comment
from cmlinfra.terraform.plan import PlanSummary, ResourceChange, summarize_plan

MARK = "<!-- cmlinfra:plan stack=gpu-runner -->"


def terraform(workdir: Path, *args: str) -> str:
    binary = shutil.which("terraform")
    assert binary, "terraform 1.11.4 must be on PATH (the machine image ships it)"
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": os.devnull}
    result = subprocess.run(
        [binary, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def real_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlanSummary, str]:
    """A plan that creates one, updates one, replaces one and deletes one resource."""
    import json

    work = tmp_path_factory.mktemp("plan")
    (work / "main.tf").write_text(
        'resource "terraform_data" "keep" { input = "a" }\n'
        'resource "terraform_data" "gone" { input = "b" }\n'
        'resource "terraform_data" "swap" { triggers_replace = ["v1"] }\n'
    )
    terraform(work, "init", "-input=false")
    terraform(work, "apply", "-auto-approve", "-input=false")
    (work / "main.tf").write_text(
        'resource "terraform_data" "keep" { input = "a2" }\n'
        'resource "terraform_data" "swap" { triggers_replace = ["v2"] }\n'
        'resource "terraform_data" "new" { input = "c" }\n'
    )
    terraform(work, "plan", "-out=tfplan", "-input=false")
    text = terraform(work, "show", "tfplan")  # with colour codes, as a CI log has them
    return summarize_plan(json.loads(terraform(work, "show", "-json", "tfplan"))), text


def test_comment_for_a_real_destructive_plan(real_plan: tuple[PlanSummary, str]) -> None:
    summary, text = real_plan
    comment = plan_comment(
        summary, text, title="gpu-runner", hourly_cost=1.006, cost_note="g5.xlarge", watermark=MARK
    )
    lines = comment.splitlines()
    assert lines[0] == (
        "## Terraform plan for `gpu-runner`: 1 to create, 1 to update, 1 to replace, 1 to delete"
    )
    # the warning comes right after the headline, naming what is lost
    assert lines[2] == "> [!CAUTION]"
    assert "**This plan deletes 1 resource and replaces 1 resource.**" in lines[3]
    assert "> - `terraform_data.gone` (delete)" in lines
    assert "> - `terraform_data.swap` (replace)" in lines
    assert "**Estimated cost:** $1.006 per hour, $24.14 per day (g5.xlarge)." in lines
    for heading, item in [
        ("### Create (1)", "- `terraform_data.new`"),
        ("### Update in place (1)", "- `terraform_data.keep`"),
        ("### Replace (delete, then create) (1)", "- `terraform_data.swap`"),
        ("### Delete (1)", "- `terraform_data.gone`"),
    ]:
        assert lines[lines.index(heading) + 2] == item
    # the full plan, without colour codes, signs in the first column for diff highlighting
    assert "<details>" in comment and "```diff" in comment and "\x1b" not in comment
    assert '-/+ resource "terraform_data" "swap" {' in lines
    assert '+   resource "terraform_data" "new" {' in lines
    assert "Plan: 2 to add, 1 to change, 2 to destroy." in comment
    assert lines[-1] == MARK
    # the markdown renders: the details block and code fence are closed before the watermark
    tokens = MarkdownIt("commonmark").parse(comment)
    assert [t.type for t in tokens if t.type == "fence"] == ["fence"]
    assert tokens[-1].type == "html_block" and tokens[-1].content.strip() == MARK


def test_pure_function_of_its_inputs(real_plan: tuple[PlanSummary, str]) -> None:
    summary, text = real_plan
    assert plan_comment(summary, text, watermark=MARK) == plan_comment(
        summary, text, watermark=MARK
    )


def test_no_changes_and_no_warning() -> None:
    summary = PlanSummary(
        (ResourceChange("terraform_data.keep", "terraform_data", "keep", "no-op"),)
    )
    comment = plan_comment(summary, "No changes. Your infrastructure matches the configuration.")
    assert comment.startswith("## Terraform plan: no changes\n")
    assert "CAUTION" not in comment and "###" not in comment and "Estimated cost" not in comment
    unknown = plan_comment(summary, "", cost_note="an existing machine")
    assert "**Estimated cost:** unknown (an existing machine)." in unknown.splitlines()


def test_creates_only_have_no_caution_but_show_warnings_and_outputs() -> None:
    summary = PlanSummary(
        (ResourceChange("aws_instance.runner", "aws_instance", "runner", "create"),),
        warnings=("aws_instance.runner was changed outside terraform",),
        output_changes=("ip",),
    )
    comment = plan_comment(summary, "", hourly_cost=0.0)
    assert "CAUTION" not in comment and "<details>" not in comment
    assert "> [!WARNING]\n> - aws_instance.runner was changed outside terraform" in comment
    assert "### Outputs that change (1)\n\n`ip`" in comment
    assert "$0.000 per hour" in comment


@pytest.mark.parametrize("limit", [2_000, 5_000, 65_536])
def test_a_huge_plan_fits_the_limit_with_the_watermark_kept(limit: int) -> None:
    changes = tuple(
        ResourceChange(f"module.fleet[{i}].aws_instance.gpu", "aws_instance", "gpu", "replace")
        for i in range(400)
    )
    text = "\n".join(
        f'  # module.fleet[{i}].aws_instance.gpu must be replaced\n-/+ resource "aws_instance" '
        f'"gpu" {{\n      ~ id = "i-{i:08x}" -> (known after apply)\n    }}'
        for i in range(3000)
    )
    comment = plan_comment(PlanSummary(changes), text, watermark=MARK, limit=limit)
    assert len(comment) <= limit
    assert comment.rstrip("\n").endswith(MARK)
    assert comment.startswith("## Terraform plan: 0 to create, 0 to update, 400 to replace")
    assert "> [!CAUTION]" in comment
    if limit == 65_536:  # room for the resources and part of the plan, cut by whole lines
        assert "### Replace (delete, then create) (400)" in comment
        assert "more lines. The full plan is in the CI job's log." in comment
        assert comment.count("```") % 2 == 0
    else:
        assert "This report was truncated" in comment


def test_as_diff_moves_signs_and_keeps_other_lines() -> None:
    text = '  \x1b[32m+\x1b[0m\x1b[0m resource "a" "b" {\n      ~ x = 1 -> 2\n- odd\n    }\n'
    assert as_diff(text).splitlines() == [
        '+   resource "a" "b" {',
        "!       x = 1 -> 2",
        "- odd",
        "    }",
    ]
