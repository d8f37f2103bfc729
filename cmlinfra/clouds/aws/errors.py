"""What the EC2 API's (and so the Terraform AWS provider's) errors mean for a retry.

The codes are EC2's own (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html);
they appear as ``ClientError`` codes through boto3 and inside Terraform's message
(``creating EC2 Instance: InsufficientInstanceCapacity: We currently do not have …``), so one
table serves both. Order matters: the first matching rule wins (a spot-price refusal is not a
capacity problem; Terraform's own ``Unsupported argument`` is not EC2's ``Unsupported``).
tests/clouds/aws/test_errors.py quotes a real message for each rule, with its source.
"""

from __future__ import annotations

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.clouds.errors import Rule, classify


def _codes(kind: ErrorKind, *codes: str) -> Rule:
    return Rule(kind, r"\b(?:" + "|".join(codes) + r")\b")


RULES = (
    # Terraform's configuration errors, whose wording would otherwise look like EC2 codes
    Rule(ErrorKind.BAD_REQUEST, r"\bUnsupported (?:argument|attribute|block type)\b"),
    _codes(ErrorKind.SPOT_PRICE, "SpotMaxPriceTooLow", "price-too-low"),
    Rule(ErrorKind.SPOT_PRICE, r"--cloud-spot-price \S+ is below the current spot price"),
    _codes(
        ErrorKind.QUOTA,
        "VcpuLimitExceeded",
        "InstanceLimitExceeded",
        "MaxSpotInstanceCountExceeded",
        "MaxSpotFleetRequestCountExceeded",
        "MaxFleetCountExceeded",
        "AddressLimitExceeded",
        "VolumeLimitExceeded",
        "MaxIOPSLimitExceeded",
    ),
    _codes(
        ErrorKind.CAPACITY,
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientCapacity",
        "UnfulfillableCapacity",
        "InsufficientFreeAddressesInSubnet",
        "capacity-not-available",
        "Unsupported",  # the type is not offered in that zone (the message names others)
    ),
    # resolve()'s checks: the type in no zone of the region, or not in the zone asked for
    Rule(ErrorKind.CAPACITY, r" is not offered in (?:the zone )?[a-z]{2}-[a-z]+-\d"),
    _codes(
        ErrorKind.AUTH,
        "AuthFailure",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "OptInRequired",
        "PendingVerification",
        "NoCredentialsError",
    ),
    Rule(ErrorKind.AUTH, r"\bBlocked\b[):]|no AWS credentials found|Unable to locate credentials"),
    _codes(
        ErrorKind.TRANSIENT,
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
    ),
    Rule(ErrorKind.TRANSIENT, r"cannot reach the AWS EC2 API|Read timeout on endpoint"),
    _codes(
        ErrorKind.BAD_REQUEST,
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidParameter",
        "MissingParameter",
        "UnsupportedOperation",
        "InvalidBlockDeviceMapping",
        r"InvalidAMIID\.\w+",
        r"InvalidSubnetID\.\w+",
        r"InvalidGroup\.\w+",
        r"InvalidKeyPair\.\w+",
        r"InvalidVpcID\.\w+",
        r"InvalidInstanceID\.\w+",
    ),
)


def classify_error(error: BaseException | str) -> ErrorKind:
    """The kind of an EC2 / Terraform AWS error (``ErrorKind.UNKNOWN`` when no rule knows it)."""
    return classify(error, RULES)
