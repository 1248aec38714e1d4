import dataclasses
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from collectors import config
from collectors.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "fleet.example.toml"

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
    ("[collection]\ninterval_seconds = 10", "collection.interval_seconds", "from 60 to 86400"),
    ("[collection]\nbackfill_hours = true", "collection.backfill_hours", "got bool True"),
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


def test_staleness_and_deadline_follow_the_interval_when_left_out(tmp_path):
    c = config.load(write(tmp_path, MINIMAL + "[collection]\ninterval_seconds = 300\n")).collection
    assert (c.max_age_seconds, c.deadline_seconds) == (900, 290)
    assert (config.Collection().max_age_seconds, config.Collection().deadline_seconds) == (180, 50)
    assert config.Collection(interval_seconds=120).max_age_seconds == 360  # built in code, not only from TOML


def test_staleness_and_deadline_can_be_set(tmp_path):
    c = config.load(write(tmp_path, MINIMAL + "[collection]\nmax_age_seconds = 61\ndeadline_seconds = 60\n")).collection
    assert (c.interval_seconds, c.max_age_seconds, c.deadline_seconds) == (60, 61, 60)


def test_dump_round_trips_the_example():
    s = config.load(EXAMPLE)
    again = config.parse(tomllib.loads(config.dump(s)), str(EXAMPLE), base=EXAMPLE.parent)
    assert again == s


# --- Malformed configs: one line naming the file (and the key, when there is one), never a traceback. ---

T = '[[targets]]\nname = "a"\nregions = ["us-east-1"]\n'


def _symlink_loop(d: Path) -> Path:
    os.symlink(d / "b.toml", d / "a.toml")
    os.symlink(d / "a.toml", d / "b.toml")
    return d / "a.toml"


def _dangling(d: Path) -> Path:
    os.symlink(d / "gone.toml", d / "link.toml")
    return d / "link.toml"


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "fifo.toml")
    return d / "fifo.toml"


def _store_under_a_file(d: Path) -> Path:
    (d / "afile").write_text("x")
    return write(d, '[store]\npath = "afile/headroom.db"\n' + T)


def _unreadable(d: Path) -> Path:
    # Tests run as root, which reads a chmod 000 file anyway; unreadable_file() makes the read itself fail.
    return write(d, T)


# (id, content: TOML text | bytes | a function of the directory, key in the message or None, words)
MALFORMED = [
    ("missing file", lambda d: d / "nope.toml", None, "no such file; copy fleet.example.toml"),
    ("a directory", lambda d: d, None, "is a directory"),
    ("unreadable", _unreadable, None, "permission denied"),
    ("symlink loop", _symlink_loop, None, "symbolic link loop"),
    ("dangling symlink", _dangling, None, "symbolic link to a missing file"),
    ("a fifo", _fifo, None, "not a regular file"),
    ("latin-1 text", "# café\n".encode("latin-1") + T.encode(), None, "not UTF-8 text (byte 0xe9 at line 1"),
    ("binary with NUL", b"\x00\x01\x02\xff" * 64, None, "binary file"),
    ("a PNG", b"\x89PNG\r\n\x1a\n" + bytes(range(1, 200)), None, "not UTF-8 text"),
    ("too large", "# x\n" * 300_000, None, "too large"),
    ("syntax: bare word", T + "[collection]\ninterval_seconds = sixty\n", "collection.interval_seconds",
     "not valid TOML at line 5"),
    ("syntax: unclosed header", "[[targets]\n", None, "not valid TOML at line 1"),
    ("syntax: duplicate key", T + "name = \"b\"\n", "targets[0].name", "not valid TOML at line 4"),
    ("nested arrays", "[grouping]\ntag_keys = " + "[" * 5000 + "]" * 5000 + "\n" + T, None, "nested too deeply"),
    ("5000-digit integer", "[collection]\nmax_workers = " + "9" * 5000 + "\n" + T, "collection.max_workers",
     "thousands of digits"),
    ("interval nan", "[collection]\ninterval_seconds = nan\n" + T, "collection.interval_seconds", "got float nan"),
    ("interval inf", "[collection]\ninterval_seconds = inf\n" + T, "collection.interval_seconds", "got float inf"),
    ("interval float", "[collection]\ninterval_seconds = 60.0\n" + T, "collection.interval_seconds",
     "an integer from 60"),
    ("interval negative", "[collection]\ninterval_seconds = -60\n" + T, "collection.interval_seconds", "got int -60"),
    ("interval a day and more", "[collection]\ninterval_seconds = 86401\n" + T, "collection.interval_seconds",
     "from 60 to 86400"),
    ("warn nan", "[thresholds]\nthrottles = { warn = nan, critical = 5 }\n" + T, "thresholds.throttles.warn",
     "got nan"),
    ("critical inf", "[thresholds]\nconcurrency = { critical = inf }\n" + T, "thresholds.concurrency.critical",
     "got inf"),
    ("critical -inf", "[thresholds]\nconcurrency = { critical = -inf }\n" + T, "thresholds.concurrency.critical",
     "got -inf"),
    ("warn negative", "[thresholds]\ndlq_messages = { warn = -1 }\n" + T, "thresholds.dlq_messages.warn", ">= 0"),
    ("warn over a default critical", "[thresholds]\ncode_storage = { warn = 0.95 }\n" + T,
     "thresholds.code_storage.warn", "must not exceed critical (0.95 > 0.9)"),
    ("critical 400 digits", "[thresholds]\nthrottles = { critical = " + "9" * 400 + " }\n" + T,
     "thresholds.throttles.critical", "too large"),
    ("threshold a string", "[thresholds]\nthrottles = { warn = \"1\" }\n" + T, "thresholds.throttles.warn",
     "must be a number >= 0, got str"),
    ("threshold not a table", "[thresholds]\nthrottles = 5\n" + T, "thresholds.throttles", "must be a table"),
    ("retention nan", "[retention]\nraw_days = nan\n" + T, "retention.raw_days", "got nan"),
    ("retention zero", "[retention]\nhourly_days = 0\n" + T, "retention.hourly_days", "from 0.05"),
    ("retention out of order", "[retention]\nraw_days = 40\n" + T, "retention.raw_days", "<= five_minute_days"),
    ("backfill too far", "[collection]\nbackfill_hours = 1000\n" + T, "collection.backfill_hours", "15 days"),
    ("workers negative", "[collection]\nmax_workers = -1\n" + T, "collection.max_workers", "from 1 to 32"),
    ("max age not above interval", "[collection]\ninterval_seconds = 120\nmax_age_seconds = 120\n" + T,
     "collection.max_age_seconds", "more than interval_seconds (120)"),
    ("max age nan", "[collection]\nmax_age_seconds = nan\n" + T, "collection.max_age_seconds", "got float nan"),
    ("deadline over interval", "[collection]\ndeadline_seconds = 61\n" + T, "collection.deadline_seconds",
     "at most interval_seconds (60)"),
    ("deadline too short", "[collection]\ndeadline_seconds = 5\n" + T, "collection.deadline_seconds", "from 10"),
    ("prefix depth nan", "[grouping]\nprefix_depth = nan\n" + T, "grouping.prefix_depth", "got float nan"),
    ("store under a file", _store_under_a_file, "store.path", "afile is a file, not a directory"),
    ("store is a directory", '[store]\npath = "."\n' + T, "store.path", "is a directory"),
    ("store with NUL", '[store]\npath = "a\\u0000b.db"\n' + T, "store.path", "must be a file path"),
    ("unknown top key", "colection = 1\n" + T, "colection", "unknown key"),
    ("unknown collection key", "[collection]\ninterval = 60\n" + T, "collection.interval", "unknown key"),
    ("collection not a table", "collection = 5\n" + T, "collection", "must be a table"),
    ("targets a string", 'targets = "prod"\n', "targets", "must be an array of tables"),
    ("tag keys numbers", "[grouping]\ntag_keys = [1, 2]\n" + T, "grouping.tag_keys", "list of tag key strings"),
]
VIA_CLI = {"a directory", "symlink loop", "binary with NUL", "nested arrays", "interval nan", "warn nan",
           "store under a file"}


@pytest.fixture
def unreadable_file(monkeypatch):
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "fleet.toml":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def make(tmp_path: Path, content) -> Path:
    if callable(content):
        return content(tmp_path)
    p = tmp_path / "fleet.toml"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


@pytest.mark.parametrize("content, key, words", [pytest.param(*m[1:], id=m[0]) for m in MALFORMED])
def test_malformed_config_is_one_line_naming_file_and_key(request, tmp_path, content, key, words):
    if request.node.callspec.id == "unreadable":
        request.getfixturevalue("unreadable_file")
    p = make(tmp_path, content)
    if request.node.callspec.id in VIA_CLI:
        run = subprocess.run([sys.executable, "-m", "collectors", "check", "--config", str(p)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 3 and "Traceback" not in run.stderr
        lines = run.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {p}: ")
        msg = lines[0].removeprefix("error: ")
    else:
        with pytest.raises(ConfigError) as e:
            config.load(p)
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith(f"{p}: ")
    assert words in msg
    if key is not None:
        assert msg.startswith(f"{p}: [{key}] ")


def test_a_bom_is_not_an_error(tmp_path):
    s = config.load(make(tmp_path, b"\xef\xbb\xbf" + T.encode()))
    assert [t.name for t in s.targets] == ["a"]


def test_every_cli_case_is_in_the_table():
    assert VIA_CLI <= {m[0] for m in MALFORMED}


def test_round_trip_keeps_every_field(tmp_path):
    s = config.load(write(tmp_path, MINIMAL + T.replace('"a"', '"b"') + """
role_arn = "arn:aws:iam::222222222222:role/x"
external_id = "q\\"uote\\\\ \\u0007 é"
[thresholds]
throttles = { warn = 0.5, critical = 1e16 }
[collection]
interval_seconds = 90
[retention]
raw_days = 0.05
"""))
    p2 = tmp_path / "again.toml"
    p2.write_text(config.dump(s))
    assert dataclasses.replace(config.load(p2), path=s.path) == s
