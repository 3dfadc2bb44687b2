"""The conformance matrix: every feature x inbound dialect x provider, as tests.

`python -m tests.conformance` runs them and writes docs/conformance.md from the outcomes;
`--check` says whether the committed file is current.
"""
