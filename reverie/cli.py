"""The ``reverie`` command line; each command lives in ``reverie._private.cli``."""

from __future__ import annotations


def main() -> None:
    from ._private.cli.app import build_app

    build_app()()


if __name__ == "__main__":
    main()
