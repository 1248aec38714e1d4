"""Turning AWS failures into recorded data (never into zeros)."""
from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from .model import CollectError

# What botocore raises for AWS answers and for transport/credential trouble; anything else is a bug.
AWS_ERRORS = (ClientError, BotoCoreError)

HINTS = {
    "AccessDenied": "grant the action in the role's policy (python -m collectors iam-policy prints it)",
    "AccessDeniedException": "grant the action in the role's policy (python -m collectors iam-policy prints it)",
    "UnrecognizedClientException": "the credentials are not valid in this region: is the region enabled for the account?",
    "InvalidClientTokenId": "the credentials are not valid here: is the region enabled, are the keys current?",
    "ExpiredToken": "refresh the credentials (aws sso login, or new keys)",
    "Throttling": "throttled beyond retries: lower collection.max_workers or raise collection.interval_seconds",
    "TooManyRequestsException": "throttled beyond retries: lower collection.max_workers or raise collection.inventory_refresh_minutes",
    "EndpointConnectionError": "the endpoint did not answer: check endpoint_url, the network, or that the region exists",
    "NoCredentialsError": "no AWS credentials found: set a profile in the target, or AWS_PROFILE / instance role",
}


def to_error(e: BaseException, source: str, api: str) -> CollectError:
    """A recorded error with the AWS error code and message (and a hint where we know one)."""
    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        code = err.get("Code") or str(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "ClientError"))
        message = err.get("Message") or str(e)
    else:
        code, message = type(e).__name__, str(e)
    hint = HINTS.get(code)
    return CollectError(source, api, code, f"{message} ({hint})" if hint else message)


def summarise(errors: list[CollectError]) -> list[CollectError]:
    """Errors of one kind (source, API, code) from many resources as one, with a count and an example:
    a denied SQS over 200 queues is one line, not 200."""
    groups: dict[tuple[str, str, str], list[CollectError]] = {}
    for e in errors:
        groups.setdefault((e.source, e.api, e.code), []).append(e)
    return [es[0] if len(es) == 1 else CollectError(*key, f"{len(es)} times, e.g. {es[0].message}")
            for key, es in groups.items()]
