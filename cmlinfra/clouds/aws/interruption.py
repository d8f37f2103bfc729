"""How an EC2 machine hears it is taken back: the instance metadata service (IMDSv2).

A Spot Instance interruption notice appears at ``spot/instance-action`` two minutes before EC2
stops or terminates the instance (404 until then); a rebalance recommendation
(``events/recommendations/rebalance``) comes earlier, when the instance is at elevated risk,
and is acted on the same way: checkpoint and move while there is time. IMDSv2 needs a session
token first (a PUT), which the launched instances require (``http_tokens = "required"``).
See AWS's "Spot Instance interruption notices" and "EC2 instance rebalance recommendations".
"""

from __future__ import annotations

from cmlinfra.clouds.info import Interruption

PROBE = """\
local token answer
token=$(fetch PUT "$METADATA/latest/api/token" "X-aws-ec2-metadata-token-ttl-seconds: 300") ||
  return 1
if answer=$(fetch GET "$METADATA/latest/meta-data/spot/instance-action" \\
  "X-aws-ec2-metadata-token: $token"); then
  echo "spot instance-action: $answer"
  return 0
fi
if answer=$(fetch GET "$METADATA/latest/meta-data/events/recommendations/rebalance" \\
  "X-aws-ec2-metadata-token: $token"); then
  echo "rebalance recommendation: $answer"
  return 0
fi
return 1
"""

INTERRUPTION = Interruption(
    base_url="http://169.254.169.254",
    probe=PROBE,
    watched="IMDSv2 spot/instance-action and events/recommendations/rebalance",
    warning_seconds=120,
)
