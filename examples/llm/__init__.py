"""LLM example: OpenAI-compatible chat API → Processor (template, tokens) → Worker (tiny LM)."""
