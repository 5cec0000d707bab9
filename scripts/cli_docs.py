"""Write docs/cli.md from the command line's own help: `python -m scripts.cli_docs`.

tests/test_docs.py fails when docs/cli.md and `claw ... --help` disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lib import cli

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"
WIDTH = 100

HEADER = """\
# Command-line reference

Generated from the program's own help by `python -m scripts.cli_docs`; a test fails
when this page and `claw ... --help` disagree. What each verb does in detail, and why:
`README.md` and `docs/decisions.md`.
"""


def help_text(*path: str) -> str:
    """What ``claw [path...] --help`` prints on a terminal 100 columns wide."""
    from click.testing import CliRunner

    result = CliRunner().invoke(
        cli.cli, [*path, "--help"], prog_name="claw", terminal_width=WIDTH, obj=cli.App()
    )
    assert result.exit_code == 0, result.output
    return result.output.rstrip("\n")


def render() -> str:
    sections = [HEADER, f"## claw\n\n```text\n{help_text()}\n```\n"]
    for name in ("pull", "build", "up", "down"):
        sections.append(f"## claw {name}\n\n```text\n{help_text(name)}\n```\n")
    sections.append(SHELL_COMPLETION)
    return "\n".join(sections)


SHELL_COMPLETION = """\
## Shell completion

For the installed `claw` command (`pip install .`), click completes verbs and options:

```sh
eval "$(_CLAW_COMPLETE=bash_source claw)"   # bash: put this line in ~/.bashrc
eval "$(_CLAW_COMPLETE=zsh_source claw)"    # zsh: put this line in ~/.zshrc
```
"""


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
