"""One suite, every transport, every hop: each rule of ``reverie._private.conformance`` runs on
each built-in kind. A kind that cannot load fails its tests with the reason (no silent skip)."""
