"""How config values are named and shown: ``REVERIE_<SERVICE>__<KEY>`` environment variables,
``${VAR}`` references in a deployment's env, ``****`` for credentials, one-line values, and the
names of the layers that set a value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reverie.errors import ConfigError

__all__ = [
    "CLASS_DEFAULT",
    "DECORATOR",
    "ENV_PREFIX",
    "MASK",
    "SERVICE_DEFAULT",
    "env_prefix",
    "env_var_name",
    "expand_env_refs",
    "looks_secret",
    "mask_env",
    "show_value",
]

MASK = "****"
ENV_PREFIX = "REVERIE_"
DECORATOR = "@service(config=...)"
CLASS_DEFAULT = "class default"
SERVICE_DEFAULT = "@service default"
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_ENV_REF = re.compile(r"(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_ENV_REF_SUB = re.compile(r"(\$\$\{)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE", re.I)


def _env_part(text: str) -> str:
    return _NON_ALNUM.sub("_", text).upper()


def env_prefix(service: str) -> str:
    """``REVERIE_<SERVICE>__``: what every environment variable of a service starts with."""
    return f"{ENV_PREFIX}{_env_part(service)}__"


def env_var_name(service: str, key: str) -> str:
    """``REVERIE_<SERVICE>__<KEY>``, upper-cased, every non-alphanumeric character as ``_``."""
    return f"{ENV_PREFIX}{_env_part(service)}__{_env_part(key)}"


def mask_env(name: str, value: Any) -> str:
    """An env value for output: ``****`` when its name looks secret (TOKEN, PASSWORD, ...),
    except a ``${VAR}`` reference as written, which holds no secret itself."""
    if isinstance(value, str) and _ENV_REF.search(value):
        return show_value(value)
    return MASK if looks_secret(name) else show_value(value)


def looks_secret(name: str) -> bool:
    """Whether an env or config name looks like it holds a credential."""
    return _SECRET_ENV.search(name) is not None


def expand_env_refs(
    value: str, environ: Mapping[str, str], *, service: str, key: str, source: str
) -> str:
    """``${NAME}`` in a deployment env value, replaced by the supervisor's own ``$NAME``, so
    the file never holds the secret. ``$${`` is a literal ``${``. A missing variable fails."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return "${"
        name = m.group(2)
        if name not in environ:
            raise ConfigError(
                f"refers to ${{{name}}}, which is not set in the environment of reverie serve",
                service=service,
                key=key,
                source=source,
                fix=f"export {name}=... before running reverie serve, or write the value",
            )
        return environ[name]

    return _ENV_REF_SUB.sub(sub, value)


def show_value(value: Any, limit: int = 80) -> str:
    """A value as one short line for tables and messages."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."
