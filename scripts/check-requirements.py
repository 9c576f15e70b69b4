"""Exits 0 when every `name==version` pin in the given requirements file is installed.

Lets install-deps.sh skip pip entirely (pip itself takes seconds to decide nothing is missing).
"""
import sys
from importlib import metadata


def main(path: str) -> int:
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        try:
            if metadata.version(name.strip()) != version.strip():
                return 1
        except metadata.PackageNotFoundError:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
