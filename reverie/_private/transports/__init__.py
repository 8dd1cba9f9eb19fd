"""Transports: how a client call reaches its target (in-process, HTTP, NATS), behind one interface."""
