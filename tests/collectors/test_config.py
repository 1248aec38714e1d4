from pathlib import Path

import pytest

from collectors import config
from collectors.config import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "fleet.example.toml"

MINIMAL = """
[store]
path = "headroom.db"
[grouping]
prefix_depth = 1
tag_keys = ["team"]
[[targets]]
name = "prod"
regions = ["us-east-1", "eu-west-1"]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "fleet.toml"
    p.write_text(text)
    return p


def test_issue_example_loads_with_defaults(tmp_path):
    s = config.load(write(tmp_path, MINIMAL))
    assert s.store_path == tmp_path / "headroom.db"
    assert s.grouping.prefix_depth == 1 and s.grouping.tag_keys == ("team",)
    assert [(t.name, t.regions, t.role_arn) for t in s.targets] == [("prod", ("us-east-1", "eu-west-1"), None)]
    assert s.thresholds["concurrency"] == config.Threshold(0.8, 0.9)
    assert s.collection.backfill_hours == 24 and s.collection.interval_seconds == 60


def test_shipped_example_is_valid():
    s = config.load(EXAMPLE)
    assert s.targets and all(t.regions for t in s.targets)


def test_full_target_and_overrides(tmp_path):
    s = config.load(write(tmp_path, MINIMAL + """
[[targets]]
name = "shared"
regions = ["ap-southeast-2"]
role_arn = "arn:aws:iam::222222222222:role/headroom-read"
external_id = "xyz"
endpoint_url = "http://127.0.0.1:4566"
[thresholds]
throttles = { warn = 10, critical = 1000 }
[collection]
backfill_hours = 3
[[grouping.prefix_rules]]
prefix = "pay"
group = "payments-team"
[[grouping.prefix_rules]]
prefix = "payments-legacy"
group = "legacy"
"""))
    t = s.targets[1]
    assert (t.role_arn, t.external_id, t.endpoint_url) == (
        "arn:aws:iam::222222222222:role/headroom-read", "xyz", "http://127.0.0.1:4566")
    assert s.thresholds["throttles"] == config.Threshold(10, 1000)
    assert s.thresholds["concurrency"] == config.Threshold(0.8, 0.9)  # untouched default
    assert s.collection.backfill_hours == 3
    assert [r.prefix for r in s.grouping.prefix_rules] == ["payments-legacy", "pay"]  # longest first


@pytest.mark.parametrize("extra, key, words", [
    ("[store]\npth = 'x'", "store.pth", "unknown key"),
    ("[grouping]\nprefix_depth = 0", "grouping.prefix_depth", "from 1 to 5"),
    ("[grouping]\nprefix_depth = '2'", "grouping.prefix_depth", "must be an integer"),
    ("[grouping]\ntag_keys = 'team'", "grouping.tag_keys", "list of tag key strings"),
    ("[thresholds]\nthrottles = { warn = 5, critical = 1 }", "thresholds.throttles.warn", "must not exceed critical"),
    ("[thresholds]\nconcurency = { warn = 1, critical = 2 }", "thresholds.concurency", "unknown key"),
    ("[collection]\ninterval_seconds = 10", "collection.interval_seconds", ">= 60"),
    ("[collection]\nbackfill_hours = true", "collection.backfill_hours", "got True"),
    ("[collection]\nmax_workers = 2.5", "collection.max_workers", "an integer"),
])
def test_bad_values_name_file_key_and_fix(tmp_path, extra, key, words):
    text = MINIMAL.replace("[store]\npath = \"headroom.db\"\n", "").replace("[grouping]\nprefix_depth = 1\ntag_keys = [\"team\"]\n", "")
    p = write(tmp_path, text + "\n" + extra + "\n")
    with pytest.raises(ConfigError) as e:
        config.load(p)
    msg = str(e.value)
    assert str(p) in msg and f"[{key}]" in msg and words in msg


@pytest.mark.parametrize("target, key, words", [
    ('name = "a"', "targets[0].regions", "region names"),
    ('name = "a"\nregions = ["us-east"]', "targets[0].regions", "'us-east' is not a region"),
    ('name = "a"\nregions = ["us-east-1"]\nrole_arn = "role/x"', "targets[0].role_arn", "IAM role ARN"),
    ('name = "a"\nregions = ["us-east-1"]\nexternal_id = "x"', "targets[0].external_id", "needs role_arn"),
    ('name = "a"\nregions = ["us-east-1"]\nendpoint_url = "localhost"', "targets[0].endpoint_url", "http(s) URL"),
    ('name = "a"\nregions = ["us-east-1"]\nsecret_key = "x"', "targets[0].secret_key", "unknown key"),
])
def test_bad_targets(tmp_path, target, key, words):
    p = write(tmp_path, f"[[targets]]\n{target}\n")
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert f"[{key}]" in str(e.value) and words in str(e.value)


def test_duplicate_target_names_and_no_targets(tmp_path):
    with pytest.raises(ConfigError, match=r"\[targets\[1\].name\] must be a unique"):
        config.load(write(tmp_path, '[[targets]]\nname="a"\nregions=["us-east-1"]\n[[targets]]\nname="a"\nregions=["us-east-1"]\n'))
    with pytest.raises(ConfigError, match=r"\[targets\] is required"):
        config.load(write(tmp_path, "[store]\npath='x.db'\n"))


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        config.load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[[targets]\n"))
