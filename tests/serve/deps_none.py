"""A module without an entry, for the serve tests."""
