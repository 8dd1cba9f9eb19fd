"""The contract derived from markup: blueprints, their diff, OpenAPI."""
