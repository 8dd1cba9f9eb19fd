"""Service state: declared with ``reverie.state`` markup, captured, restored, checkpointed,
swapped live and migrated. Each concern lives in its own module; the host calls in through a
few small hooks."""
