"""The dashboard on the PostgreSQL store shows what it shows on SQLite, to the last figure: the same seed
written to both, every page rendered over each, every text and table compared."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import queries
from tests import pgserver
from tests.dashboard import seed as seedmod
from tests.dashboard.conftest import APP, texts

pytestmark = pytest.mark.postgresql
PAGES = ["overview", "triage", "groups", "limits", "function"]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    now = time.time()
    lite = seedmod.seed(tmp_path_factory.mktemp("lite"), now)
    with pgserver.database() as url:
        yield int(now) // 60 * 60, lite, seedmod.seed(tmp_path_factory.mktemp("pg"), now, url=url)


def view(monkeypatch: pytest.MonkeyPatch, minute: int, cfg: Path, page: str) -> tuple[list[str], list[object]]:
    monkeypatch.setattr(queries, "now", lambda: minute + 30.0)
    monkeypatch.setenv("HEADROOM_CONFIG", str(cfg))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [df.value.to_dict("split") for df in at.dataframe]
    return [t.replace(str(cfg), "CFG") for t in texts(at)], tables


@pytest.mark.parametrize("page", PAGES)
def test_every_page_is_the_same_on_both_stores(both, monkeypatch, page):
    minute, lite, pg = both
    on_sqlite, on_pg = view(monkeypatch, minute, lite, page), view(monkeypatch, minute, pg, page)
    assert on_pg[0] == on_sqlite[0]
    assert on_pg[1] == on_sqlite[1]
    assert len(on_sqlite[0]) > 5   # the page said something (not two empty pages found equal)
    if page == "limits":   # the seed's figures, not just equal pages
        assert any("Used **62.0 GB** of 75 GB (83 %)" in t for t in on_pg[0]), on_pg[0]
