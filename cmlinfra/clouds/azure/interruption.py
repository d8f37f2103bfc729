"""How an Azure machine hears it is taken back: Scheduled Events on the instance metadata
service.

A Spot VM's eviction is announced as an event of ``EventType`` ``Preempt`` in
``metadata/scheduledevents`` (header ``Metadata: true``), at least 30 seconds before it
happens. See Microsoft's "Azure Metadata Service: Scheduled Events for Linux VMs".
"""

from __future__ import annotations

from cmlinfra.clouds.info import Interruption

PROBE = """\
local answer
answer=$(fetch GET "$METADATA/metadata/scheduledevents?api-version=2020-07-01" "Metadata: true") ||
  return 1
grep -Eq '"EventType"[[:space:]]*:[[:space:]]*"Preempt"' <<<"$answer" || return 1
echo "scheduled event Preempt: $(tr -d '\\n' <<<"$answer" | cut -c1-300)"
"""

INTERRUPTION = Interruption(
    base_url="http://169.254.169.254",
    probe=PROBE,
    watched="Scheduled Events (metadata/scheduledevents) of EventType Preempt",
    warning_seconds=30,
)
