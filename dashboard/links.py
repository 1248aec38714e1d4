"""Links out of the dashboard: the AWS console pages of what a row names."""
from __future__ import annotations

from urllib.parse import quote


def console_url(region: str, function: str) -> str:
    """The AWS console page of a Lambda function."""
    return f"https://{region}.console.aws.amazon.com/lambda/home?region={region}#/functions/{function}"


def queue_console_url(region: str, account: str, name: str) -> str:
    """The AWS console page of an SQS queue."""
    url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
    return f"https://{region}.console.aws.amazon.com/sqs/v3/home?region={region}#/queues/{quote(url, safe='')}"
