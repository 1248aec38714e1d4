"""Fixtures: a seeded store (tests/dashboard/seed.py) and AppTest runs of the dashboard over it."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import queries
from tests.dashboard import seed as seedmod

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture(scope="session")
def seed_info(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """(fleet.toml, the seed's current minute). One store for the session: the numbers sit well inside
    the last hour, so minutes passing during the run do not move them out of the windows tested."""
    now = time.time()
    return seedmod.seed(tmp_path_factory.mktemp("seeded"), now), int(now) // 60 * 60


@pytest.fixture(scope="session")
def seeded(seed_info: tuple[Path, int]) -> Path:
    return seed_info[0]


@pytest.fixture
def run_page(monkeypatch: pytest.MonkeyPatch, seed_info: tuple[Path, int]) -> Callable[..., AppTest]:
    """run_page(page, config=None, **query_params) -> an AppTest after the page has run.

    The pages' clock is pinned 30 s after the seed's minute: ages and growth rates ("oldest 1 h 30 min")
    must not change when a slow run crosses a minute boundary.
    """
    seeded, minute = seed_info
    monkeypatch.setattr(queries, "now", lambda: minute + 30.0)

    def run(page: str = "overview", config: Path | None = None, **params: str | list[str]) -> AppTest:
        monkeypatch.setenv("HEADROOM_CONFIG", str(config or seeded))
        at = AppTest.from_file(APP, default_timeout=60)
        for k, v in params.items():
            at.query_params[k] = v
        at.run()
        if page != "overview":
            at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at
    return run


def texts(at: AppTest) -> list[str]:
    """Every markdown, caption, info/warning/error/success text on the page (main and sidebar)."""
    out = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "subheader", "title"):
        out.extend(str(e.value) for e in at.get(kind))
    return out


def joined(at: AppTest) -> str:
    return "\n".join(texts(at))
