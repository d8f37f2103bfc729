"""How a Compute Engine machine hears it is taken back: the metadata server.

``computeMetadata/v1/instance/preempted`` answers ``TRUE`` once a Spot (or preemptible) VM is
being preempted; Compute Engine gives it about 30 seconds before stopping it. Every request
needs the ``Metadata-Flavor: Google`` header. See Google's "Detect if a VM was preempted".
"""

from __future__ import annotations

from cmlinfra.clouds.info import Interruption

PROBE = """\
local answer
answer=$(fetch GET "$METADATA/computeMetadata/v1/instance/preempted" "Metadata-Flavor: Google") ||
  return 1
[[ "$answer" == TRUE* ]] || return 1
echo "instance/preempted: $answer"
"""

INTERRUPTION = Interruption(
    base_url="http://metadata.google.internal",
    probe=PROBE,
    watched="metadata computeMetadata/v1/instance/preempted",
    warning_seconds=30,
)
