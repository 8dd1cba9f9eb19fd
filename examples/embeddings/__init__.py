"""Embeddings example: an OpenAI-compatible /v1/embeddings frontend over a batching encoder."""
