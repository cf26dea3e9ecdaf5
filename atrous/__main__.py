"""``python -m atrous``: the command line (see :mod:`atrous.cli`)."""

from atrous.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
