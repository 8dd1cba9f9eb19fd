"""Atom example: Dream's own sample, an Atom feed over a feed service bound by SID."""
