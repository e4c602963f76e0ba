"""Every shell command in docs/plugins.md, run exactly as written, in order, in a scratch venv.

The commands are the ```sh blocks of the guide, run as one bash script with ``set -e`` in an
empty folder, with ``seqstudio`` and ``python`` of a throw-away venv first on PATH (the venv
sees this environment's packages through a ``.pth`` line, so installs land in it alone).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .test_install import scratch_env  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "plugins.md"


def shell_blocks(text: str) -> list[str]:
    """The bodies of the ```sh blocks, in order."""
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_guide_has_the_walk_through_as_shell_blocks():
    commands = [ln for block in shell_blocks(GUIDE.read_text(encoding="utf-8"))
                for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
    joined = "\n".join(commands)
    for needed in ("seqstudio plugins new", "python -m pytest", "SEQSTUDIO_PLUGIN_PATH=",
                   "seqstudio plugins install", "seqstudio train", "--save", "seqstudio predict",
                   "plugins disable", "plugins enable", "plugins uninstall"):
        assert needed in joined
    # a key with '>' is always quoted: unquoted, the shell redirects the output into a file
    for line in commands:
        unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", line)
        assert ">" not in unquoted, line


@pytest.mark.slow
def test_every_shell_command_of_the_guide_runs_as_written(scratch_env, tmp_path):  # noqa: F811
    python, env = scratch_env
    env = dict(env)
    env.pop("PIP_NO_INDEX", None)  # the plugin is built like a user's: isolated, from the local index
    bindir = Path(python).parent
    shim = bindir / "seqstudio"
    shim.write_text(f"#!{python}\nimport sys\nfrom seqstudio.cli import main\nsys.exit(main())\n")
    shim.chmod(0o755)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    work = tmp_path / "work"
    work.mkdir()
    script = "set -euo pipefail\n" + "\n".join(shell_blocks(GUIDE.read_text(encoding="utf-8")))
    proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=1500)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-6000:]}\nstderr:\n{proc.stderr[-6000:]}"
    out = proc.stdout
    assert "5 passed" in out                                           # the new plugin's own tests
    assert "plugin 'mycells' 0.1.0 is active: 1 cell, 1 data source" in out
    assert "mycells>tanh_rnn" in out and "cell_options 'activation'" in out   # layers list
    assert "project saved to" in out and (work / "seqstudio-mycells" / "sine.json").is_file()
    assert "uninstalled seqstudio-mycells (plugin mycells)" in out
    assert not list(work.glob("seqstudio-mycells/*>*")), "a '>' was taken as a redirection"
