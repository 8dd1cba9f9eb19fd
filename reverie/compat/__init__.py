"""Compatibility layers that translate another framework's markup into Reverie's core API.

``reverie.compat.dynamo``: NVIDIA Dynamo SDK services run with one changed import line.
"""
