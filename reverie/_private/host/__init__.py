"""The host: registry, dependency graph, instances and their lifecycle."""
