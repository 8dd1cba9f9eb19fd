"""The ``reverie`` commands, one module per command family."""
