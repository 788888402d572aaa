"""The ``torchrate`` command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    import torchrate

    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        print(f"torchrate {torchrate.__version__}")
        return 0
    print("usage: torchrate --version", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
