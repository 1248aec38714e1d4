"""An AWS Organization for the sandbox, and CloudWatch cross-account observability (OAM) links.

moto 5.2.5 has Organizations (accounts, OUs, tags, close_account -> SUSPENDED, paging) and lets
sts:AssumeRole into any account id; it has no OAM. The sandbox answers oam:ListSinks and
oam:ListAttachedLinks from `Observability.links` (shared with the metric store: ListMetrics with
IncludeLinkedAccounts and GetMetricData with AccountId see exactly the linked accounts).

    org = build_org(sb)          # management 123456789012; OUs, tagged accounts, one suspended
    sb.observability.link(MANAGEMENT, "us-east-1", [org.accounts["payments"]])
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3

from .protocol import Reply, RequestInfo, SandboxError, json_reply

MANAGEMENT = "123456789012"   # the dummy credentials' account: the organization's management account
ROLE_NAME = "headroom-read"


class Observability:
    """CloudWatch OAM: one sink per (monitoring account, region) that has links."""

    def __init__(self, links: dict[tuple[str, str], set[str]]) -> None:
        self.links = links    # the metric store's: (monitoring account, region) -> source accounts

    def link(self, monitoring: str, region: str, sources: list[str]) -> None:
        """Link source accounts' metrics to the monitoring account's sink in a region."""
        self.links.setdefault((monitoring, region), set()).update(sources)

    def _sink(self, account: str, region: str) -> str:
        return f"arn:aws:oam:{region}:{account}:sink/sandbox-sink"

    def list_sinks(self, info: RequestInfo) -> Reply:
        region = info.region or "us-east-1"
        items = [{"Arn": self._sink(info.account, region), "Id": "sandbox-sink", "Name": "headroom"}] \
            if (info.account, region) in self.links else []
        return json_reply("oam", {"Items": items})

    def list_attached_links(self, info: RequestInfo) -> Reply:
        region = info.region or "us-east-1"
        sink = info.json().get("SinkIdentifier")
        if sink != self._sink(info.account, region) or (info.account, region) not in self.links:
            raise SandboxError("ResourceNotFoundException", f"sink {sink} not found", 404)
        return json_reply("oam", {"Items": [
            {"Label": f"account {a}", "LinkArn": f"arn:aws:oam:{region}:{a}:link/sandbox-{a}",
             "ResourceTypes": ["AWS::CloudWatch::Metric"]} for a in sorted(self.links[(info.account, region)])]})


@dataclass
class Org:
    """What build_org made: ids by short name."""
    root: str
    ous: dict[str, str] = field(default_factory=dict)        # "prod", "prod/payments", "sandbox"
    accounts: dict[str, str] = field(default_factory=dict)   # short name -> account id
    tags: dict[str, dict[str, str]] = field(default_factory=dict)


# (short name, OU, tags, suspended): the organization build_org makes
ACCOUNTS = (
    ("orders", "prod", {"env": "prod", "team": "orders"}, False),
    ("payments", "prod/payments", {"env": "prod", "team": "payments"}, False),
    ("playground", "sandbox", {"env": "dev"}, False),
    ("legacy", "prod", {"env": "prod", "headroom": "off"}, False),
    ("retired", "prod", {"env": "prod"}, True),
)


def _client(endpoint: str, service: str, region: str = "us-east-1", creds: dict[str, str] | None = None) -> Any:
    kw = {} if creds is None else {"aws_access_key_id": creds["AccessKeyId"],
                                   "aws_secret_access_key": creds["SecretAccessKey"],
                                   "aws_session_token": creds["SessionToken"]}
    make: Any = boto3.client
    return make(service, region_name=region, endpoint_url=endpoint, **kw)


def member_creds(endpoint: str, account: str) -> dict[str, str]:
    """Credentials of the headroom-read role in a member account (moto: that account's own state)."""
    sts = _client(endpoint, "sts")
    return sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE_NAME}", RoleSessionName="seed")["Credentials"]


def build_org(sb: Any, functions: dict[str, int] | None = None, regions: tuple[str, ...] = ("us-east-1",)) -> Org:
    """The organization (through boto3, from the management account): OUs prod, prod/payments, sandbox;
    the ACCOUNTS, tagged; "retired" closed (SUSPENDED). `functions`: short name -> how many Lambda functions
    to create in each region of that account (default 2 each in orders and payments), with limits set."""
    org = _client(sb.endpoint_url, "organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    out = Org(root)
    for path in ("prod", "prod/payments", "sandbox"):
        parent = out.ous[path.rsplit("/", 1)[0]] if "/" in path else root
        out.ous[path] = org.create_organizational_unit(ParentId=parent, Name=path.rsplit("/", 1)[-1]
                                                       )["OrganizationalUnit"]["Id"]
    for name, ou, tags, suspended in ACCOUNTS:
        status = org.create_account(AccountName=name, Email=f"{name}@example.com",
                                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["CreateAccountStatus"]
        account = status["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=out.ous[ou])
        out.accounts[name], out.tags[name] = account, dict(tags)
        if suspended:
            org.close_account(AccountId=account)
    for name, n in (functions if functions is not None else {"orders": 2, "payments": 2}).items():
        account = out.accounts[name]
        creds = member_creds(sb.endpoint_url, account)
        role = _client(sb.endpoint_url, "iam", creds=creds).create_role(
            RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        for region in regions:
            sb.set_account_limits(account, region, concurrent_executions=1000)
            lam = _client(sb.endpoint_url, "lambda", region, creds)
            for i in range(n):
                lam.create_function(FunctionName=f"{name}-fn-{i}", Runtime="python3.12", Role=role, Handler="h.h",
                                    Code={"ZipFile": _zip()})
    return out


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("h.py", "def h(event, context):\n    return 1\n")
    return buf.getvalue()
