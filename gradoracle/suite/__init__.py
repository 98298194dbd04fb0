"""The property suite: every test here checks one implementation under test, chosen with
`pytest --gradoracle-impl MODULE:CLASS` (or the ini option `gradoracle_impl`).

The pytest plugin (`gradoracle.pytest_plugin`, installed with the package) adds these files to a
pytest run in any project; they are not meant to be imported by other code. Failures show the
shrunk graph as a runnable snippet, a per-leaf table and an SVG of the graph (`explain`).
"""
