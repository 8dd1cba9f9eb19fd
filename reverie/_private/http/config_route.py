"""A running instance's config over HTTP: ``GET /<path>/@config`` shows it (secrets masked),
``PUT /<path>/@config`` changes it (applied by an ``on_config`` hook, else by a restart in
place; the old config stays when the new one is refused)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from reverie.errors import ConfigError, ConfigRejectedError, ServiceError

from ..config.resolve import ResolvedConfig, ResolvedValue
from ..config.values import MASK
from .send import Send, send_json, send_problem

if TYPE_CHECKING:
    from ..host.host import Host
    from ..host.instance import Instance
    from .answer import Receive
    from .app import HostApp
    from .head import Head

__all__ = ["config_error", "put_config", "shown_config"]

log = logging.getLogger("reverie.http")


def config_error(exc: ConfigError, what: str) -> ServiceError:
    """A config error as a 400 whose details name the key, its source and the type."""
    details = [
        {"key": exc.key, "source": exc.source, "expected": exc.expected, "message": str(exc)}
    ]
    return ServiceError(400, f"{what}: {exc}", details=details)


def shown_config(config: ResolvedConfig | None) -> dict[str, Any]:
    """A config for output: plain values, secrets masked."""
    if config is None:
        return {}
    out: dict[str, Any] = {}
    for key, rv in config.items():
        assert isinstance(rv, ResolvedValue)
        out[key] = MASK if rv.secret else rv.value
    return out


async def put_config(
    app: HostApp, receive: Receive, send: Send, inst: Instance, head: Head
) -> None:
    """``PUT /<path>/@config``: new values on top of the current ones (a masked secret sent
    back stays); applied in place by an ``on_config`` hook, else by restarting the instance.
    Values that do not resolve change nothing (400)."""
    from .head import BodyTimeoutError
    from .routing import CLOSE

    try:
        values = await app.read_json(receive, head, empty={}, what="the config document")
    except BodyTimeoutError as err:
        await send_problem(send, err, CLOSE)
        return
    except ServiceError as err:
        await send_problem(send, err)
        return
    if not isinstance(values, dict):
        await send_problem(
            send,
            ServiceError(
                400, f"PUT @config takes a JSON object of config keys, not {type(values).__name__}"
            ),
        )
        return
    old = inst.config
    current = {k: rv.value for k, rv in (old or {}).items()}
    for key, value in list(values.items()):
        if value == MASK and old is not None and key in old and old[key].secret:
            values[key] = old[key].value  # a masked secret sent back unchanged
    try:
        new = app.host.resolve_config(inst.cls, {**current, **values}, "PUT @config")
    except ConfigError as exc:
        await send_problem(send, config_error(exc, f"config of {inst.path} not changed"))
        return
    merged = ResolvedConfig(
        inst.meta.name,
        {
            k: (rv if k in values or old is None or k not in old else old[k])
            for k, rv in new.items()
        },
    )
    if inst.meta.hooks.get("on_config"):
        await _apply_in_place(send, inst, old, merged)
        return
    await _restart(app.host, send, inst, merged)


async def _apply_in_place(
    send: Send, inst: Instance, old: ResolvedConfig | None, new: ResolvedConfig
) -> None:
    previous = {attr: inst.obj.__dict__.get(attr) for attr in new.by_attr()}
    inst.obj.__dict__.update(new.by_attr())
    try:
        await inst.run_hooks("on_config", new.as_dict())
    except Exception as exc:
        inst.obj.__dict__.update(previous)
        await send_problem(
            send,
            ServiceError(
                400,
                f"{inst.meta.name}'s on_config hook refused the config "
                f"({type(exc).__name__}: {exc}); the old config stays in force",
            ),
        )
        return
    inst.config = new
    await send_json(send, {"applied": "on_config", "config": shown_config(new)})


async def _restart(host: Host, send: Send, inst: Instance, new: ResolvedConfig) -> None:
    path = inst.path
    try:
        fresh = await host.restart_instance(path, config=new.as_dict(), config_source="PUT @config")
    except ConfigRejectedError as exc:
        log.warning("PUT @config of %s refused: %s", path, exc.message)
        await send_problem(send, ServiceError(400, exc.message))
        return
    except Exception as exc:
        log.error("restart of %s failed: %s", path, exc)
        await send_problem(send, ServiceError(500, f"restart of {path} failed: {exc}"))
        return
    await send_json(send, {"applied": "restart", "config": shown_config(fresh.config)})
