"""Wire codecs: msgpack for NATS and the in-process ``serialize=True`` mode, JSON for HTTP.

Both take any supported value (pydantic models, dataclasses, Structs, TypedDicts, builtins) and
give back plain data; the receiving side validates it against the declared type.
"""

from __future__ import annotations

import msgspec

from ..declare.types import _enc_hook

__all__ = ["json_decode", "json_encode", "msgpack_decode", "msgpack_encode"]

_mp_enc = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_mp_dec = msgspec.msgpack.Decoder()
_js_enc = msgspec.json.Encoder(enc_hook=_enc_hook)
_js_dec = msgspec.json.Decoder()

msgpack_encode = _mp_enc.encode
msgpack_decode = _mp_dec.decode
json_encode = _js_enc.encode
json_decode = _js_dec.decode
