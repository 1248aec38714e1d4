"""Small builders for store records used across the collector tests."""
from collectors.model import AccountInfo, Covered, FunctionInfo, cover_everything, Point, ProvisionedConfig, QueueDepth, TargetResult

ACCOUNT, REGION = "123456789012", "us-east-1"
T0 = 1_700_000_000 // 3600 * 3600   # an hour boundary


def fn(name, reserved=None, tags=None, groups=None, dlq=None, on_failure=None, size=1000, all_sizes=None,
       versions=1, revision="r1", detail_at=T0):
    return FunctionInfo(name=name, arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", runtime="python3.12",
                        memory_mb=512, timeout_s=30, architecture="arm64", package_type="Zip", code_size=size,
                        code_size_all_versions=all_sizes or size, version_count=versions, last_modified="2026-01-01",
                        revision=revision, vpc=False, dlq_arn=dlq, on_failure_arn=on_failure,
                        reserved_concurrency=reserved, tags=tags or {}, groups=groups or {"prefix": name.split("-")[0]},
                        detail_at=detail_at)


def result(functions=(), points=(), coverage=(), account_info=None, queues=(), provisioned=(), errors=(),
           account=ACCOUNT, region=REGION, target="prod", now=T0):
    """A TargetResult; each (start, end) in `coverage` covers every subject it holds (account, functions,
    provisioned aliases, queues), a Covered entry covers one subject."""
    r = TargetResult(target=target, region=region, account=account, started_at=now, finished_at=now + 1,
                     account_info=account_info or AccountInfo(1000, 1000, 80_530_636_800, 1_000_000, len(functions)),
                     functions=list(functions), provisioned=list(provisioned), queues=list(queues),
                     points=list(points), errors=list(errors))
    for c in coverage:
        r.coverage.extend([c] if isinstance(c, Covered) else cover_everything(r, *c))
    return r


__all__ = ["AccountInfo", "Covered", "Point", "ProvisionedConfig", "QueueDepth", "fn", "result", "ACCOUNT", "REGION", "T0"]
