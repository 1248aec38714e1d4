"""[store] url: a PostgreSQL store, configured, validated and reported without its password."""
import socket

import pytest

from collectors import cli, config
from collectors.store import Store, StoreError

T = '[[targets]]\nname = "prod"\nregions = ["us-east-1"]\n'


def load(tmp_path, text):
    p = tmp_path / "fleet.toml"
    p.write_text(text)
    return config.load(p)


def test_url_is_the_store_and_its_password_never_shows(tmp_path):
    s = load(tmp_path, '[store]\nurl = "postgresql://headroom:hunter2@db.internal:5433/headroom"\n' + T)
    assert s.store == "postgresql://headroom:hunter2@db.internal:5433/headroom"
    assert s.store_label == "postgresql://headroom:***@db.internal:5433/headroom"
    assert Store(s.store).label == "postgresql://headroom:***@db.internal:5433/headroom"
    assert load(tmp_path, config.dump(s)).store_url == s.store_url   # round trip


def test_path_stays_the_default(tmp_path):
    s = load(tmp_path, T)
    assert s.store_url is None and s.store == tmp_path / "headroom.db"


@pytest.mark.parametrize("store, words", [
    ('path = "a.db"\nurl = "postgresql://db/h"', "set either path (SQLite) or url (PostgreSQL), not both"),
    ('url = "mysql://u:hunter2@db/h"', "must be a PostgreSQL URL like"),
    ('url = "postgresql://db /h"', "must be a PostgreSQL URL like"),
])
def test_bad_url_names_the_key_and_the_fix(tmp_path, store, words):
    with pytest.raises(config.ConfigError) as e:
        load(tmp_path, f"[store]\n{store}\n" + T)
    assert "store.url" in str(e.value) and words in str(e.value)
    assert "hunter2" not in str(e.value)


def test_a_server_that_is_not_there_is_a_clear_error_without_the_password(tmp_path, capsys):
    with socket.socket() as s:   # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://headroom:hunter2@127.0.0.1:{port}/headroom?connect_timeout=2"
    with pytest.raises(StoreError) as e:
        Store(url).conn
    text = str(e.value)
    assert f"postgresql://headroom:***@127.0.0.1:{port}/headroom" in text and "hunter2" not in text
    assert "check that the server runs" in text and "PGPASSWORD" in text
    (tmp_path / "fleet.toml").write_text(f'[store]\nurl = "{url}"\n' + T)
    assert cli.main(["check", "--config", str(tmp_path / "fleet.toml")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "cannot connect to the PostgreSQL store" in err and "hunter2" not in err
