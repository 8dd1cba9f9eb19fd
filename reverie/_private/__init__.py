"""Reverie's internals, one folder per step of the data flow (see docs/architecture.md).

declare -> contract -> config -> host -> call -> transports (inprocess | http | runtime); serve and
cli drive them from the command line; state and conformance hook into the host and the call path.
"""
