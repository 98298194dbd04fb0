"""`python -m gradoracle ...` is the `gradoracle` command."""

from gradoracle.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
