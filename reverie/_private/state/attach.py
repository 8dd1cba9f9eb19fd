"""What a serving process attaches for state: checkpoints (always, as the deployment says) and,
on a NATS runtime, the migration control subject."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .checkpoint import attach_checkpoints

if TYPE_CHECKING:
    from ..config.deployment import Deployment
    from ..host.host import Host

__all__ = ["attach_state"]


async def attach_state(
    host: Host,
    deployment: Deployment | None,
    runtime: Any = None,
    *,
    index: int = 0,
    count: int = 1,
) -> None:
    await attach_checkpoints(host, deployment, runtime, index=index, count=count)
    if runtime is not None:
        from .migrate import attach_migration

        await attach_migration(host, runtime)
