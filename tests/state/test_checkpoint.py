"""Checkpoints in one process: saved when changed, loaded at start, refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.counter.service import Counter, Hit
from examples.counter.v2 import CounterV2
from reverie import Host
from reverie._private.config.deployment import parse_deployment
from reverie._private.state.checkpoint import Checkpointer
from reverie._private.state.settings import settings_for
from reverie._private.state.store import DirectoryStore
from reverie.errors import DeploymentError, StateError


async def test_saved_when_changed_and_loaded_at_start(tmp_path: Path) -> None:
    store = DirectoryStore(str(tmp_path))
    async with Host() as host:
        cp = Checkpointer(host, store, "t", interval=0)
        cp.attach()
        await host.start(Counter)
        await host.client("Counter").hit(Hit("a", by=4))
        assert await cp.save(host.instance("Counter"), "test") is True
        assert await cp.save(host.instance("Counter"), "test") is False  # unchanged: skipped
    assert (tmp_path / "t" / "Counter.json").exists()
    async with Host() as host:
        Checkpointer(host, store, "t", interval=0).attach()
        await host.start(Counter)
        assert await host.client("Counter").get("a") == 4


async def test_a_checkpoint_it_cannot_read_fails_the_start_naming_it(tmp_path: Path) -> None:
    store = DirectoryStore(str(tmp_path))
    async with Host() as host:
        Checkpointer(host, store, "t", interval=0).attach()
        await host.start(CounterV2)  # a live swap to V2 leaves a version 2 checkpoint
    async with Host() as host:
        Checkpointer(host, store, "t", interval=0).attach()
        with pytest.raises(
            StateError,
            match=r"Counter: its last checkpoint \(key t/Counter, "
            r"written by examples\.counter\.v2:CounterV2\) "
            r"cannot be restored: state 'counter' version 2 is "
            r"unknown here",
        ):
            await host.start(Counter)
        assert not host.instances


def test_state_section_is_checked_with_file_and_line() -> None:
    dep = parse_deployment("state:\n  store: nats\n  bucket: b1\n  interval: 5\n", "d.yaml")
    s = settings_for(dep)
    assert s is not None and (s.store, s.bucket, s.interval, s.name) == ("nats", "b1", 5.0, "d")
    with pytest.raises(
        DeploymentError,
        match=r"d\.yaml:2.*store must be one of directory, "
        r"nats, got 's3'",
    ):
        parse_deployment("state:\n  store: s3\n", "d.yaml")
    with pytest.raises(DeploymentError, match=r"interval is a number of seconds >= 0"):
        parse_deployment("state:\n  interval: soon\n", "d.yaml")
    with pytest.raises(DeploymentError, match=r"unknown key 'bukket'.*did you mean 'bucket'"):
        parse_deployment("state:\n  bukket: x\n", "d.yaml")
    default = settings_for(parse_deployment("Counter: {}\n", "/srv/app/shop.yaml"))
    assert default is not None
    assert (default.store, default.path, default.name) == (
        "directory",
        "/srv/app/.reverie/state",
        "shop",
    )
