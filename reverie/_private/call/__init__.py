"""A call between services: the dependency client, request context, statistics, tracing."""
