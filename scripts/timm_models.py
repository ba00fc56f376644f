"""Write generator/okgen/timm_models.txt: every model name of the installed timm.

okgen accepts any of these names as a backbone without importing timm (the CLI
never imports torch). Run it again after moving to another timm release:

    python scripts/timm_models.py
"""

from __future__ import annotations

from pathlib import Path

import timm

TARGET = Path(__file__).resolve().parents[1] / "generator" / "okgen" / "timm_models.txt"


def main() -> None:
    names = sorted(timm.list_models())
    header = f"# timm {timm.__version__}: timm.list_models(), written by scripts/timm_models.py\n"
    TARGET.write_text(header + "\n".join(names) + "\n")
    print(f"{TARGET}: {len(names)} models of timm {timm.__version__}")


if __name__ == "__main__":
    main()
