"""Transports: how a client call reaches its target (in-process, HTTP, NATS), one interface."""
