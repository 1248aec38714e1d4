"""Accounts discovered from AWS Organizations, and metrics through a CloudWatch monitoring account.

Config rules and filters: literal inputs. Paging and AccessDenied of the Organizations API: Stubber.
Discovery, role assumption, suspended and gone accounts, a failed discovery and linked metrics: the
sandbox's organization (moto's Organizations, the sandbox's OAM), over HTTP.
"""
from __future__ import annotations

import time

import boto3
import pytest
from botocore.stub import Stubber

from analysis import review as rv
from collectors import cli, config, iam, organization
from collectors import leases as lease
from collectors.config import ConfigError, DISCOVERY_REGION
from collectors.pipeline import run_cycle
from collectors.sessions import TargetSession
from collectors.store import Store
from sandbox.org import MANAGEMENT, build_org

ORG = '[[targets]]\nname = "org"\norganization = true\nrole_name = "headroom-read"\nregions = ["us-east-1"]\n'


@pytest.fixture(autouse=True)
def _fresh_listings():
    organization.forget()
    yield
    organization.forget()


def load(tmp_path, text):
    p = tmp_path / "fleet.toml"
    p.write_text(text)
    return config.load(p)


# -- config ----------------------------------------------------------------------------------------

def test_an_organization_target_reads_its_keys_and_dumps_back_equal(tmp_path):
    s = load(tmp_path, ORG + 'include_ous = ["ou-ab12-cdef3456"]\nexclude_tags = { headroom = "off", '
                             'env = ["dev", "test"] }\nrediscover_minutes = 0\nmonitoring_account = true\n')
    t = s.targets[0]
    assert (t.organization, t.role_name, t.include_ous, t.rediscover_minutes, t.monitoring_account) == \
        (True, "headroom-read", ("ou-ab12-cdef3456",), 0, True)
    assert t.exclude_tags == (("env", ("dev", "test")), ("headroom", ("off",)))
    assert s.expected() == [("org", DISCOVERY_REGION)]
    assert load(tmp_path, config.dump(s)).targets == s.targets


@pytest.mark.parametrize("extra, key, words", [
    ('role_arn = "arn:aws:iam::123456789012:role/x"\n', "targets[0].role_arn", "set role_name instead"),
    ('include_ous = ["ou-12"]\n', "targets[0].include_ous", "'ou-12' is not an OU id"),
    ('exclude_ous = ["r-ab12"]\ninclude_ous = ["r-ab12"]\n', "targets[0].exclude_ous", "in both"),
    ('include_tags = { env = 3 }\n', "targets[0].include_tags", "'env' has int 3"),
    ('monitoring_role_arn = "arn:aws:iam::111111111111:role/mon"\n', "targets[0].monitoring_role_arn",
     "needs monitoring_account = true"),
    ('rediscover_minutes = 5000\n', "targets[0].rediscover_minutes", "from 0 to 1440"),
])
def test_organization_config_errors_name_the_key_and_the_fix(tmp_path, extra, key, words):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, ORG + extra)
    assert f"[{key}]" in str(e.value) and words in str(e.value)


def test_organization_keys_need_organization_and_role_name(tmp_path):
    with pytest.raises(ConfigError, match=r"\[targets\[0\].role_name\] applies only to an organization target"):
        load(tmp_path, '[[targets]]\nname = "a"\nregions = ["us-east-1"]\nrole_name = "x"\n')
    with pytest.raises(ConfigError, match=r"\[targets\[0\].role_name\] is required with organization = true"):
        load(tmp_path, '[[targets]]\nname = "a"\nregions = ["us-east-1"]\norganization = true\n')
    with pytest.raises(ConfigError, match=r"\[targets\[0\].role_name\] must be an IAM role name"):
        load(tmp_path, ORG.replace('"headroom-read"', '"arn:aws:iam::1:role/x"'))
    with pytest.raises(ConfigError, match=r"\[targets\[1\].name\] 'org/123456789012' looks like an account"):
        load(tmp_path, ORG + '[[targets]]\nname = "org/123456789012"\nregions = ["us-east-1"]\n')


# -- filters (pure) -------------------------------------------------------------------------------

def test_filters_keep_accounts_by_ou_path_and_tags(tmp_path):
    t = load(tmp_path, ORG + 'include_ous = ["ou-ab12-prod0000"]\nexclude_ous = ["ou-ab12-prod0001"]\n'
                             'include_tags = { env = ["prod", "stage"] }\nexclude_tags = { headroom = "off" }\n'
                             ).targets[0]

    def acc(parents, **tags):
        return organization.OrgAccount("1", "a", "arn:aws:organizations::1:account/o/1", "ACTIVE", parents, tags)
    below = ("r-ab12", "ou-ab12-prod0000", "ou-ab12-team0000")
    assert organization.selected(acc(below, env="prod"), t)
    assert organization.selected(acc(below, env="stage"), t)
    assert not organization.selected(acc(below, env="dev"), t)                        # tag value not included
    assert not organization.selected(acc(below), t)                                   # tag missing
    assert not organization.selected(acc(below, env="prod", headroom="off"), t)       # excluded by tag
    assert not organization.selected(acc(("r-ab12",), env="prod"), t)                 # not under the OU
    assert not organization.selected(acc(below + ("ou-ab12-prod0001",), env="prod"), t)   # excluded OU below


# -- Organizations paging and failures (Stubber) ----------------------------------------------------

def _org_client():
    return boto3.client("organizations", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _acct(i, state="ACTIVE"):
    return {"Id": f"{i:012d}", "Name": f"a{i}", "Arn": f"arn:aws:organizations::1:account/o-x/{i:012d}",
            "Email": "x@example.com", "State": state}


def test_list_accounts_follows_next_token_and_reads_state():
    c = _org_client()
    with Stubber(c) as st:
        st.add_response("list_accounts", {"Accounts": [_acct(1), _acct(2)], "NextToken": "t1"}, {})
        st.add_response("list_accounts", {"Accounts": [_acct(3, "SUSPENDED")]}, {"NextToken": "t1"})
        accounts, _ = organization.list_accounts(c, walk=False, tags=False)
        st.assert_no_pending_responses()
    assert [(a.id, a.state) for a in accounts] == [("000000000001", "ACTIVE"), ("000000000002", "ACTIVE"),
                                                   ("000000000003", "SUSPENDED")]


def test_a_failed_discovery_keeps_the_last_accounts_and_is_recorded(tmp_path):
    s = load(tmp_path, ORG.replace('"headroom-read"', '"headroom-read"\nrediscover_minutes = 0'))
    c = _org_client()
    with Stubber(c) as st:
        st.add_response("list_accounts", {"Accounts": [_acct(1), _acct(2)]}, {})
        st.add_client_error("list_accounts", "AccessDeniedException", "not the management account", 400)
        run = lambda t: organization.discover(t, c, caller="000000000009")  # noqa: E731
        first = organization.plan(s, [], 1000.0, run)
        second = organization.plan(s, [], 1060.0, run)
        st.assert_no_pending_responses()
    assert [t.name for t in first.targets] == ["org/000000000001", "org/000000000002"]
    assert first.records[0].errors == []
    # the second listing failed: the same accounts, and the failure recorded under (org, organizations)
    assert [t.name for t in second.targets] == ["org/000000000001", "org/000000000002"]
    assert [(e.api, e.code) for e in second.records[0].errors] == \
        [("organizations:ListAccounts", "AccessDeniedException")]
    assert second.targets[0].role_arn == "arn:aws:iam::000000000001:role/headroom-read"


def test_a_failed_first_discovery_collects_the_accounts_the_store_knows(tmp_path):
    s = load(tmp_path, ORG)

    def denied(t):
        raise organization.DiscoveryError("UnknownOrganizationalUnit", "include_ous names 'ou-x'")
    known = [{"target": "org/000000000007", "region": "us-east-1", "account": "000000000007"},
             {"target": "other", "region": "us-east-1", "account": "000000000008"}]
    p = organization.plan(s, known, 1000.0, denied)
    assert [(t.name, t.account_id) for t in p.targets] == [("org/000000000007", "000000000007")]
    assert p.records[0].errors[0].code == "UnknownOrganizationalUnit"


# -- the sandbox's organization, end to end ---------------------------------------------------------

def org_config(tmp_path, endpoint, org_ids, extra=""):
    p = tmp_path / "fleet.toml"
    p.write_text(f"""
[store]
path = "headroom.db"
[collection]
max_attempts = 2
backfill_days = 1
[[targets]]
name = "org"
organization = true
role_name = "headroom-read"
regions = ["us-east-1"]
endpoint_url = "{endpoint}"
include_ous = ["{org_ids.ous['prod']}"]
exclude_tags = {{ headroom = "off" }}
rediscover_minutes = 0
{extra}
""")
    return p


def reviewed(settings, store):
    now = time.time()
    start, end = rv.window(now, 3600)
    return rv.review(store, start, end, settings.thresholds, expected=settings.expected(), now=now,
                     max_age_s=settings.collection.max_age_seconds)


def test_the_sandbox_organization_is_discovered_filtered_and_collected(sb, tmp_path, capsys):
    o = build_org(sb)
    cfg = org_config(tmp_path, sb.endpoint_url, o)
    assert cli.main(["collect", "--config", str(cfg)]) == 3   # the suspended account is not collected
    out = capsys.readouterr().out
    assert "org: 6 account(s) in the organization, 2 collected, 1 not active, 3 left out by filters" in out
    assert f"org/{o.accounts['retired']} us-east-1: not collected (AccountSuspended)" in out
    assert "org: organization discovery ok" in out
    settings = config.load(cfg)
    store = Store(settings.store_path)
    by = {t.target: t for t in reviewed(settings, store).targets}
    # prod OU and below (payments is in prod/payments); legacy is excluded by tag, playground by OU
    assert sorted(by) == sorted(f"org/{o.accounts[n]}" for n in ("orders", "payments", "retired"))
    orders, payments = by[f"org/{o.accounts['orders']}"], by[f"org/{o.accounts['payments']}"]
    assert (orders.account, orders.function_count, orders.concurrency_limit) == (o.accounts["orders"], 2, 1000)
    assert payments.function_count == 2 and not payments.health.errors
    retired = by[f"org/{o.accounts['retired']}"]
    assert retired.status == "unknown"
    assert retired.findings[0].kind == "not_collected"
    assert "is SUSPENDED (closed) in the organization: not collected" in retired.findings[0].message
    # each account was read with its own role: the requests carry its account
    lam = {acc for svc, op, _, acc in sb.request_log if svc == "lambda" and op == "ListFunctions"}
    assert lam == {o.accounts["orders"], o.accounts["payments"]}


def test_closed_and_gone_accounts_are_marked_and_new_ones_appear(sb, tmp_path):
    o = build_org(sb)
    settings = config.load(org_config(tmp_path, sb.endpoint_url, o))
    store = Store(settings.store_path)
    run_cycle(settings, store)
    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=sb.endpoint_url)
    org.close_account(AccountId=o.accounts["orders"])
    org.remove_account_from_organization(AccountId=o.accounts["payments"])
    new = org.create_account(AccountName="fresh", Email="fresh@example.com")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=new, SourceParentId=o.root, DestinationParentId=o.ous["prod"])
    report = run_cycle(settings, store)
    codes = {r.target: [e.code for e in r.errors] for r in report.results}
    assert codes[f"org/{o.accounts['orders']}"] == ["AccountSuspended"]
    assert codes[f"org/{o.accounts['payments']}"] == ["AccountLeftOrganization"]
    assert f"org/{new}" in codes    # collected (its role: AccessDenied-free in moto, no functions)
    by = {t.target: t for t in reviewed(settings, store).targets}
    for name in ("orders", "payments"):
        t = by[f"org/{o.accounts[name]}"]
        assert t.status == "unknown" and t.findings[0].kind == "not_collected"
    # their history stays: the functions read in the first cycle are still in the store
    assert sorted(store.functions(o.accounts["orders"], "us-east-1")) == ["orders-fn-0", "orders-fn-1"]


def test_a_denied_discovery_is_unknown_and_the_known_accounts_are_still_collected(sb, tmp_path, capsys):
    o = build_org(sb)
    cfg = org_config(tmp_path, sb.endpoint_url, o)
    settings = config.load(cfg)
    store = Store(settings.store_path)
    run_cycle(settings, store)
    organization.forget()   # a restarted collector: only the store knows the accounts
    sb.faults.add(service="organizations", error="AccessDenied")
    report = run_cycle(settings, store)
    collected = {r.target for r in report.results if r.functions is not None}
    assert collected == {f"org/{o.accounts['orders']}", f"org/{o.accounts['payments']}"}
    found = {t.target: t for t in reviewed(settings, store).targets}
    d = found["org"]
    assert d.region == DISCOVERY_REGION and d.status == "unknown" and d.findings[0].kind == "discovery"
    assert "account discovery failed: AccessDenied" in d.findings[0].message
    assert cli.main(["check", "--config", str(cfg), "--window", "1h"]) == 3


def test_linked_accounts_metrics_are_read_through_the_monitoring_account(sb, tmp_path):
    o = build_org(sb)
    payments, orders = o.accounts["payments"], o.accounts["orders"]
    sb.observability.link(MANAGEMENT, "us-east-1", [payments])
    now = int(time.time()) // 60 * 60
    for account in (payments, orders):
        sb.put_metric_points(account, "us-east-1", "AWS/Lambda", "ConcurrentExecutions", None, [(now - 600, 37)])
        sb.put_metric_points(account, "us-east-1", "AWS/Lambda", "Throttles", {"FunctionName": f"{'payments' if account == payments else 'orders'}-fn-0"},
                             [(now - 540, 12)])
    settings = config.load(org_config(tmp_path, sb.endpoint_url, o, "monitoring_account = true"))
    store = Store(settings.store_path)
    sb.request_log.clear()
    report = run_cycle(settings, store)
    assert not [e for r in report.results if r.region != DISCOVERY_REGION and r.account != o.accounts["retired"]
                for e in r.errors]
    cw = {(op, acc) for svc, op, _, acc in sb.request_log if svc == "cloudwatch"}
    # payments' CloudWatch calls were made as the monitoring account; orders (not linked) with its own role
    assert ("GetMetricData", payments) not in cw and ("ListMetrics", payments) not in cw
    assert ("GetMetricData", MANAGEMENT) in cw and ("GetMetricData", orders) in cw
    by = {t.target: t for t in reviewed(settings, store).targets}
    for account, fn in ((payments, "payments-fn-0"), (orders, "orders-fn-0")):
        t = by[f"org/{account}"]
        assert (t.peak_concurrency, t.throttles) == (37, 12)
        assert next(f for f in t.functions if f.name == fn).throttles == 12


def test_iam_policy_covers_exactly_the_calls_of_plain_and_organization_targets(fleet, sb, tmp_path, capsys):
    o = build_org(sb)
    sb.observability.link(MANAGEMENT, "us-east-1", [o.accounts["payments"]])
    text = fleet.read_text().replace('path = "headroom.db"', f'path = "{tmp_path / "iam.db"}"')
    p = tmp_path / "iam.toml"
    p.write_text(text + org_config(tmp_path, sb.endpoint_url, o, "monitoring_account = true").read_text()
                 .split("[collection]")[1].split("\n", 3)[3] +
                 f'[[targets]]\nname = "all"\norganization = true\nrole_name = "headroom-read"\n'
                 f'regions = ["us-east-1"]\nendpoint_url = "{sb.endpoint_url}"\n')
    settings = config.load(p)
    sessions, listings = [], []
    base = organization.discover_with_credentials(settings)

    def factory(t, region, c):
        sessions.append(TargetSession(t, region, c))
        return sessions[-1]

    def discover(t):
        listings.append(base(t))
        return listings[-1]

    run_cycle(settings, Store(settings.store_path), session_factory=factory, discover=discover)
    called = {iam.iam_action(k) for s in sessions for k in s.counter.calls} | \
        {iam.iam_action(k) for x in listings for k in x.calls}
    assert called - {"sts:AssumeRole"} == set(iam.ACTIONS)
    assert all(a.split(":")[1].startswith(("Get", "List")) for a in iam.ACTIONS)
    assert cli.main(["iam-policy", "--config", str(p)]) == 0
    import json
    doc = json.loads(capsys.readouterr().out)
    assert doc["Statement"][1] == {"Sid": "HeadroomAssumeReadRoles", "Effect": "Allow", "Action": ["sts:AssumeRole"],
                                   "Resource": ["arn:aws:iam::*:role/headroom-read",
                                                "arn:aws:iam::222222222222:role/headroom-read"]}


def test_a_linked_accounts_cloudwatch_asks_for_that_account_on_every_call_and_page():
    from collectors.sessions import read_linked
    cw = read_linked(boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x",
                                  aws_secret_access_key="x"), "444455556666")
    q = {"Id": "q0", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Throttles"},
                                    "Period": 60, "Stat": "Sum"}}
    with Stubber(cw) as st:
        st.add_response("list_metrics", {"Metrics": [], "NextToken": "n"},
                        {"Namespace": "AWS/Lambda", "IncludeLinkedAccounts": True, "OwningAccount": "444455556666"})
        st.add_response("list_metrics", {"Metrics": []}, {"Namespace": "AWS/Lambda", "NextToken": "n",
                                                          "IncludeLinkedAccounts": True, "OwningAccount": "444455556666"})
        st.add_response("get_metric_data", {"MetricDataResults": []},
                        {"MetricDataQueries": [{**q, "AccountId": "444455556666"}], "StartTime": 0, "EndTime": 60})
        list(cw.get_paginator("list_metrics").paginate(Namespace="AWS/Lambda"))
        list(cw.get_paginator("get_metric_data").paginate(MetricDataQueries=[q], StartTime=0, EndTime=60))
        st.assert_no_pending_responses()


def test_shards_split_an_organizations_accounts_between_them(sb, tmp_path, capsys):
    """--shard i/n on an organization target: each discovered account is collected by exactly one shard."""
    o = build_org(sb)
    cfg = org_config(tmp_path, sb.endpoint_url, o)
    collected = {}
    for i in (1, 2, 3):
        cli.main(["collect", "--config", str(cfg), "--shard", f"{i}/3"])
        out = capsys.readouterr().out
        assert f"shard {i}/3:" in out and "1 in 3 of each organization's accounts (by account)" in out
        collected[i] = {line.split()[0] for line in out.splitlines()
                        if line.startswith("org/") and " functions" in line}
    wanted = {f"org/{o.accounts[n]}" for n in ("orders", "payments")}
    assert set().union(*collected.values()) == wanted
    assert sum(len(c) for c in collected.values()) == len(wanted)   # none collected twice
    for i, names in collected.items():
        assert all(lease.shard_of((n, "us-east-1"), 3) == i for n in names)
