"""Markup: decorators that only record data on a plain class."""
