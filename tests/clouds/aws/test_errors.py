"""EC2's errors as a ``ClientError`` object (not just text): moto answers with the real error
document, and the code decides. The texts users met are in the contract harness
(tests/clouds/contract/harness_aws.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from cmlinfra.clouds.aws.errors import classify_error
from cmlinfra.clouds.base import ErrorKind
from cmlinfra.errors import CmlinfraError
from tests.fixtures.moto import MotoServer


def test_a_client_error_is_classified_by_its_code(moto: MotoServer) -> None:
    ec2 = moto.client("ec2")
    with pytest.raises(ClientError) as raised:
        ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"])
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    assert classify_error(raised.value) == ErrorKind.BAD_REQUEST
    try:  # wrapped the way cmlinfra wraps it: the cause still counts
        raise CmlinfraError("deleting the runner failed") from raised.value
    except CmlinfraError as wrapped:
        assert classify_error(wrapped) == ErrorKind.BAD_REQUEST


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("InsufficientInstanceCapacity", ErrorKind.CAPACITY),
        ("InsufficientCapacity", ErrorKind.CAPACITY),
        ("Unsupported", ErrorKind.CAPACITY),
        ("UnsupportedOperation", ErrorKind.BAD_REQUEST),
        ("VcpuLimitExceeded", ErrorKind.QUOTA),
        ("InstanceLimitExceeded", ErrorKind.QUOTA),
        ("MaxSpotInstanceCountExceeded", ErrorKind.QUOTA),
        ("SpotMaxPriceTooLow", ErrorKind.SPOT_PRICE),
        ("AuthFailure", ErrorKind.AUTH),
        ("UnauthorizedOperation", ErrorKind.AUTH),
        ("RequestLimitExceeded", ErrorKind.TRANSIENT),
        ("InvalidParameterValue", ErrorKind.BAD_REQUEST),
        ("InvalidAMIID.NotFound", ErrorKind.BAD_REQUEST),
    ],
)
def test_each_code_of_the_error_document(code: str, kind: ErrorKind) -> None:
    """The shape botocore builds from EC2's XML error (errors-overview), one per code."""
    error = ClientError({"Error": {"Code": code, "Message": "…"}}, "RunInstances")
    assert classify_error(error) == kind
