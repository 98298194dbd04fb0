"""The `gradoracle` command line: `main` (gradoracle.cli.main) wires the commands together;
`common` holds what they share (exit codes, flags, the one-line usage error), and `check`, `fuzz`
and `corpus` are one command each (`many` and `many_report`: `check` with several targets)."""
