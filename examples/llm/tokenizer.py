"""A byte-level tokenizer with a handful of special tokens, built locally (nothing to download).

Ids 0-255 are the bytes of UTF-8 text; the specials follow. Decoding is incremental so a
character split across tokens comes out whole once its last byte arrives.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping

__all__ = ["SPECIALS", "ByteTokenizer", "IncrementalDecoder"]

SPECIALS = ("<|bos|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
ROLES = ("system", "user", "assistant")


class IncrementalDecoder:
    """Token ids in, text out, holding back an unfinished UTF-8 sequence; specials are dropped."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token_id: int) -> str:
        if token_id > 255:
            return ""
        return str(self._utf8.decode(bytes((token_id,))))

    def flush(self) -> str:
        return str(self._utf8.decode(b"", final=True))


class ByteTokenizer:
    """256 byte tokens + ``SPECIALS``; a chat template in the ChatML style."""

    def __init__(self) -> None:
        self.special_ids = {name: 256 + i for i, name in enumerate(SPECIALS)}
        self.vocab_size = 256 + len(SPECIALS)
        self.bos_id = self.special_ids["<|bos|>"]
        self.eos_id = self.special_ids["<|eos|>"]
        self.end_id = self.special_ids["<|end|>"]

    @property
    def stop_ids(self) -> list[int]:
        """Ids that end an assistant turn."""
        return [self.eos_id, self.end_id]

    @property
    def suppress_ids(self) -> list[int]:
        """Specials an answer must never contain: the start and role markers."""
        return [i for n, i in self.special_ids.items() if n not in ("<|eos|>", "<|end|>")]

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def apply_chat_template(self, messages: Iterable[Mapping[str, str]]) -> list[int]:
        """``<|bos|>`` then ``<|role|>content<|end|>`` per message, then ``<|assistant|>``."""
        ids = [self.bos_id]
        for msg in messages:
            role = msg["role"]
            if role not in ROLES:
                raise ValueError(f"unknown chat role {role!r}; roles: {', '.join(ROLES)}")
            ids.append(self.special_ids[f"<|{role}|>"])
            ids.extend(self.encode(msg["content"]))
            ids.append(self.end_id)
        ids.append(self.special_ids["<|assistant|>"])
        return ids
