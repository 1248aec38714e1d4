import json
import re
from pathlib import Path

import pytest

from collectors import cli, iam

from .conftest import write_config

README = Path(__file__).resolve().parents[2] / "README.md"


def test_iam_policy_prints_the_policy(capsys):
    assert cli.main(["iam-policy"]) == 0
    assert json.loads(capsys.readouterr().out) == iam.policy()


def test_check_before_any_collection_explains(tmp_path, capsys):
    cfg = write_config(tmp_path, "http://127.0.0.1:9")
    assert cli.main(["check", "--config", str(cfg)]) == 3
    assert "run `python -m collectors collect` first" in capsys.readouterr().err


def test_config_errors_exit_3_with_the_key(tmp_path, capsys):
    p = tmp_path / "fleet.toml"
    p.write_text('[[targets]]\nname = "x"\nregions = ["us-east"]\n')
    assert cli.main(["collect", "--config", str(p)]) == 3
    err = capsys.readouterr().err
    assert str(p) in err and "[targets[0].regions]" in err


@pytest.mark.parametrize("argv", [["collect", "--config", "x", "--every", "5"], ["check", "--config", "x", "--window", "7x"],
                                  ["nope"]])
def test_usage_errors_exit_3_not_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 3


def test_parse_window():
    assert [cli.parse_window(w) for w in ("90m", "24h", "7d", "2w")] == [5400, 86400, 604800, 1209600]


def test_table_output_and_readme_json_keys(fleet, capsys):
    assert cli.main(["collect", "--config", str(fleet)]) == 0
    capsys.readouterr()
    assert cli.main(["check", "--config", str(fleet), "--window", "2h"]) == 2
    out = capsys.readouterr().out
    # 100 %, or 99 % when the clock passed a minute boundary since the collection
    assert re.search(r"== prod 123456789012 us-east-1: CRITICAL \(window collected (100|99) %, data up to "
                     r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\)", out)
    assert "limit 1,000, peak 820, peak claimed 870, headroom 130 (13 %)" in out
    assert "CRITICAL payments-api-charge: 350 throttles" in out
    assert "code storage  1 KB of 75.0 GB (< 0.1 %); 4 functions" in out and "0.0 GB" not in out
    assert "note          Service Quotas' applied value is 1,000; Lambda enforces 500 (GetAccountSettings)" in out
    assert out.count("Service Quotas' applied value") == 1   # only where the two differ
    assert out.rstrip().endswith("status: critical")
    # every key the README documents for check --format json is really there
    assert cli.main(["check", "--config", str(fleet), "--window", "2h", "--format", "json"]) == 2
    data = json.loads(capsys.readouterr().out)
    doc = README.read_text()
    sample = doc[doc.index("### `check --format json`"):doc.index("Numbers are numbers")]
    documented = set(re.findall(r'"([a-z_]+)":', sample)) - {"prefix"}   # a group kind: data, not a key
    t = data["targets"][0]
    errors = data["errors"][0] if data["errors"] else {"target", "region", "api", "code", "message"}
    real = set(data) | set(t) | set(t["health"]) | set(t["functions"][0]) | set(t["groups"][0]) | \
        set(t["findings"][0]) | set(errors) | set(data["cost"]) | set(data["cost"]["last_cycle"]) | \
        set(t["queues"][0]) | set(t["functions"][0]["findings"][0] if t["functions"][0]["findings"] else {})
    assert documented - real == set()


def test_collect_against_a_dead_endpoint_says_so_and_exits_3(tmp_path, capsys):
    cfg = write_config(tmp_path, "http://127.0.0.1:9", collection="max_attempts = 1")
    assert cli.main(["collect", "--config", str(cfg)]) == 3
    out = capsys.readouterr().out
    assert re.search(r"^prod us-east-1: not collected \(EndpointConnectionError\), [\d.]+ s$", out, re.M)
    assert "ERROR staging eu-west-1 sts:GetCallerIdentity: EndpointConnectionError" in out
    assert "check endpoint_url" in out   # the hint says what to do


def test_an_unwritable_store_is_explained(tmp_path, capsys):
    (tmp_path / "headroom.db").mkdir()   # a directory where the store file should be
    cfg = write_config(tmp_path, "http://127.0.0.1:9", collection="max_attempts = 1")
    assert cli.main(["collect", "--config", str(cfg)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "headroom.db" in err and "Traceback" not in err
