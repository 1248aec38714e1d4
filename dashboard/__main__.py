"""`python -m dashboard [streamlit options] [-- --config fleet.toml]`: the dashboard on 127.0.0.1, from any directory.

`python -m streamlit run dashboard/app.py` reads the repository's `.streamlit/config.toml` only when it
starts in the repository root; started elsewhere it listens on every interface (and the app then
refuses to render). This launcher passes that config file's settings as command-line options, which
outrank any config file, and binds to 127.0.0.1 whatever the file says. Options given here come
last and win (an explicit `--server.address 0.0.0.0` still needs HEADROOM_ALLOW_REMOTE=1 to render).
Outside the root, run it as `python /path/to/headroom/dashboard ...`.

Only the standard library and Streamlit here: run as a script, the package is not importable.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APP = HERE / "app.py"
CONFIG = HERE.parent / ".streamlit" / "config.toml"
LOOPBACK = "127.0.0.1"


def _value(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def config_options(config: Path = CONFIG) -> list[str]:
    """The config file's settings as `--section.key value` pairs, the bind address forced to loopback."""
    opts = {f"{section}.{key}": _value(v)
            for section, table in tomllib.loads(config.read_text()).items() for key, v in table.items()}
    opts["server.address"] = LOOPBACK
    opts["browser.serverAddress"] = LOOPBACK
    return [x for k, v in opts.items() for x in (f"--{k}", v)]


def command(argv: list[str]) -> list[str]:
    """The `streamlit` arguments for this launcher's arguments (theirs come last, so they win)."""
    return ["run", str(APP), *config_options(), *argv]


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli
    cli.main(command(sys.argv[1:] if argv is None else argv), prog_name="streamlit")


if __name__ == "__main__":
    main()
