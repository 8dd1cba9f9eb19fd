"""A tiny causal language model made locally: a Llama-shaped transformer with small dimensions and
seeded weights, optionally trained for a few hundred steps on the bundled text. No download.

``TinyLM.steps()`` is the raw generation loop (prefill, then one token per forward pass with the
KV cache); the Worker service streams it and ``bench/bench_llm.py`` times it directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tokenizer import ByteTokenizer

__all__ = ["CORPUS", "ModelSpec", "TinyLM", "pick_device"]

CORPUS = Path(__file__).with_name("corpus.txt")


def pick_device(wanted: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; anything else is taken as given."""
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


@dataclass(frozen=True)
class ModelSpec:
    """The model's shape and how it is made; the Worker's config keys map onto it."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    seed: int = 0
    train_steps: int = 0
    max_positions: int = 2048
    device: str = "auto"
    threads: int = 0


class TinyLM:
    """The model, its tokenizer and the step-by-step generation loop."""

    def __init__(self, spec: ModelSpec) -> None:
        import torch
        import transformers

        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        if spec.threads > 0:
            torch.set_num_threads(spec.threads)
        self.spec = spec
        self.tokenizer = ByteTokenizer()
        self.device = pick_device(spec.device)
        cfg = transformers.LlamaConfig(
            vocab_size=self.tokenizer.vocab_size,
            hidden_size=spec.hidden_size,
            intermediate_size=spec.hidden_size * 2,
            num_hidden_layers=spec.layers,
            num_attention_heads=spec.heads,
            num_key_value_heads=spec.heads,
            max_position_embeddings=spec.max_positions,
            bos_token_id=self.tokenizer.bos_id,
            eos_token_id=self.tokenizer.eos_id,
            tie_word_embeddings=True,
        )
        torch.manual_seed(spec.seed)
        model_cls: Any = transformers.LlamaForCausalLM  # its typed __init__ confuses mypy
        self.model: Any = model_cls(cfg)
        self.model.to(self.device)
        self.trained_steps = 0
        if spec.train_steps > 0:
            self.trained_steps = self._train(spec.train_steps)
            # A fresh module with the trained weights: the one that went through autograd and the
            # optimizer decodes several times slower on CPU (measured), the copy does not.
            trained = self.model.state_dict()
            self.model = model_cls(cfg)
            self.model.to(self.device)
            self.model.load_state_dict(trained)
        self.model.eval()
        self.parameters = sum(p.numel() for p in self.model.parameters())

    @property
    def device_name(self) -> str:
        import torch

        if self.device.startswith("cuda"):
            return str(torch.cuda.get_device_name(self.device))
        return "cpu"

    def _train(self, steps: int) -> int:
        """A few hundred steps of next-byte prediction on ``corpus.txt``, so the output looks a
        little like text. Seeded, so the same spec gives the same weights."""
        import torch

        text = CORPUS.read_text(encoding="utf-8")
        data = torch.tensor(self.tokenizer.encode(text), dtype=torch.long)
        gen = torch.Generator().manual_seed(self.spec.seed)
        opt = torch.optim.AdamW(self.model.parameters(), lr=3e-3)
        self.model.train()
        block, batch = 64, 16
        for _ in range(steps):
            starts = torch.randint(0, len(data) - block - 1, (batch,), generator=gen)
            x = torch.stack([data[s : s + block] for s in starts]).to(self.device)
            loss = self.model(input_ids=x, labels=x).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return steps

    def steps(
        self,
        prompt: Sequence[int],
        max_tokens: int,
        *,
        temperature: float = 0.0,
        seed: int | None = None,
        stop_ids: Sequence[int] = (),
        suppress_ids: Sequence[int] = (),
    ) -> Iterator[int]:
        """Yield up to ``max_tokens`` token ids: prefill once, then one cached forward per token.

        ``temperature == 0`` is greedy; otherwise sampling uses its own seeded generator, so the
        same request gives the same tokens. A stop id is yielded and ends the loop; suppressed ids
        are never produced.
        """
        import torch
        import transformers

        if not prompt:
            raise ValueError("the prompt is empty; give at least one token id")
        limit = self.spec.max_positions - len(prompt)
        if limit <= 0:
            raise ValueError(
                f"the prompt has {len(prompt)} tokens, the model's context is "
                f"{self.spec.max_positions}; shorten the conversation"
            )
        gen = None
        if temperature > 0:
            gen = torch.Generator(device=self.device).manual_seed(
                self.spec.seed if seed is None else seed
            )
        stops = set(stop_ids)
        suppress = torch.tensor(sorted(set(suppress_ids)), dtype=torch.long, device=self.device)
        cache = transformers.DynamicCache()
        ids = torch.tensor([list(prompt)], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            for _ in range(min(max_tokens, limit)):
                out = self.model(input_ids=ids, past_key_values=cache, use_cache=True)
                cache = out.past_key_values
                logits = out.logits[0, -1].float()
                if len(suppress):
                    logits[suppress] = float("-inf")
                if gen is None:
                    token = int(torch.argmax(logits))
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    token = int(torch.multinomial(probs, 1, generator=gen))
                yield token
                if token in stops:
                    return
                ids = torch.tensor([[token]], dtype=torch.long, device=self.device)

    def generate(self, prompt: Sequence[int], max_tokens: int, **kw: Any) -> list[int]:
        """The raw loop run to the end: every token id in one list."""
        return list(self.steps(prompt, max_tokens, **kw))
