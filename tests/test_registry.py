"""The registry: classes by SID, bindings, conflicts, directory and entry-point discovery."""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from reverie import service
from reverie._private.host.registry import DiscoveryReport, Registry, name_key
from reverie.errors import DuplicateSIDError, GraphError, MarkupError, UnknownSIDError
from tests import svc_declare as svc

FIXTURE = Path(__file__).parent / "discovery_fixture"
ALPHA = "sid://reverie.test/disc/alpha"


@pytest.fixture
def clean_path() -> Iterator[None]:
    """Discovery appends to sys.path; put it back after each test."""
    saved = list(sys.path)
    yield
    sys.path[:] = saved
    importlib.invalidate_caches()


@service(sid=svc.CACHE_SID)
class RivalCache:
    """A second implementation of the cache SID."""


@service(sid=[svc.CACHE_SID, "sid://reverie.test/2026/cache/v2"])
class NewCache:
    pass


# -- register and resolve ---------------------------------------------------------------------


def test_register_by_every_sid() -> None:
    reg = Registry()
    reg.register(svc.Worker)
    assert reg.resolve(svc.WORKER_SID) is svc.Worker
    assert reg.resolve(svc.WORKER_V2_SID) is svc.Worker
    assert reg.sids() == [svc.WORKER_SID, svc.WORKER_V2_SID]
    assert reg.classes() == [svc.Worker] and len(reg) == 1
    assert svc.WORKER_SID in reg and "sid://nope" not in reg
    assert reg.origin(svc.Worker) == "tests.svc_declare:Worker"


def test_registering_again_is_a_no_op() -> None:
    reg = Registry()
    reg.register(svc.Cache, origin="first")
    reg.register(svc.Cache, origin="second")
    assert reg.claims(svc.CACHE_SID) == [svc.Cache]
    assert reg.origin(svc.Cache) == "first"


def test_class_without_a_sid_is_kept_by_name() -> None:
    reg = Registry()
    reg.register(svc.Frontend)
    assert name_key("Frontend") == "name:Frontend"
    assert reg.resolve("name:Frontend") is svc.Frontend


def test_register_refuses_a_plain_class() -> None:
    with pytest.raises(MarkupError) as info:
        Registry().register(svc.NotAService)
    assert "cannot register <class 'tests.svc_declare.NotAService'>: it is not a service class" in (
        str(info.value)
    )
    assert "fix: decorate it with @reverie.service(...)" in str(info.value)


def test_unknown_sid_lists_known_sids_and_who_needs_it() -> None:
    reg = Registry()
    reg.register(svc.Cache)
    with pytest.raises(UnknownSIDError) as info:
        reg.resolve(svc.MISSING_SID, needed_by="Frontend.missing")
    msg = str(info.value)
    assert msg.startswith(
        f"no service registered for {svc.MISSING_SID} (needed by Frontend.missing)"
    )
    assert f"known SIDs: {svc.CACHE_SID}" in msg
    assert "fix: register or discover a class declaring that SID, or bind one" in msg
    assert isinstance(info.value, LookupError)
    with pytest.raises(UnknownSIDError) as info:
        reg.resolve(svc.MISSING_SID, "positional.needed_by")  # the graph resolver's call form
    assert "(needed by positional.needed_by)" in str(info.value)


def test_two_classes_on_one_sid_is_an_error_until_bound() -> None:
    reg = Registry()
    reg.register(svc.Cache)
    reg.register(RivalCache, origin="plugins/rival.py")
    with pytest.raises(DuplicateSIDError) as info:
        reg.resolve(svc.CACHE_SID)
    msg = str(info.value)
    assert msg.startswith(
        f"SID {svc.CACHE_SID} is claimed by tests.svc_declare:Cache (tests.svc_declare:Cache) and "
        f"tests.test_registry:RivalCache (plugins/rival.py)"
    )
    assert f"fix: bind one in code (host.bind('{svc.CACHE_SID}', Cls))" in msg
    assert info.value.sid == svc.CACHE_SID
    assert reg.conflicts() == {
        svc.CACHE_SID: ["tests.svc_declare:Cache", "tests.test_registry:RivalCache"]
    }
    with pytest.raises(DuplicateSIDError):
        reg.blueprints()
    reg.bind(svc.CACHE_SID, RivalCache)
    assert reg.resolve(svc.CACHE_SID) is RivalCache
    assert reg.conflicts() == {}
    assert reg.claims(svc.CACHE_SID) == [svc.Cache, RivalCache]
    assert reg.blueprints()[svc.CACHE_SID].name == "RivalCache"


def test_bind_registers_the_class() -> None:
    reg = Registry()
    reg.bind(svc.CACHE_SID, NewCache)
    assert reg.resolve(svc.CACHE_SID) is NewCache
    assert reg.resolve("sid://reverie.test/2026/cache/v2") is NewCache
    assert reg.origin(NewCache) == "bind"


def test_bind_by_module_and_class_name() -> None:
    reg = Registry()
    reg.register(svc.Cache)
    reg.register(RivalCache)
    reg.bind(svc.CACHE_SID, "tests.test_registry:RivalCache")  # already registered: picked now
    assert reg.resolve(svc.CACHE_SID) is RivalCache
    lazy = Registry()
    lazy.bind(svc.WORKER_SID, "tests.svc_declare:Worker")  # imported when first resolved
    assert svc.WORKER_SID in lazy
    assert lazy.resolve(svc.WORKER_SID) is svc.Worker
    assert lazy.origin(svc.Worker) == "bind tests.svc_declare:Worker"


def test_bind_a_class_that_does_not_declare_the_sid() -> None:
    with pytest.raises(GraphError) as info:
        Registry().bind(svc.WORKER_SID, svc.Cache)
    msg = str(info.value)
    assert (
        f"bind {svc.WORKER_SID}: tests.svc_declare:Cache does not declare that SID; it declares "
        f"{svc.CACHE_SID}"
    ) in msg
    assert f"fix: add '{svc.WORKER_SID}' to its @service(sid=[...]) or bind another class" in msg


def test_bind_a_plain_class() -> None:
    with pytest.raises(GraphError, match=r"tests.svc_declare:NotAService is not a service class"):
        Registry().bind(svc.WORKER_SID, svc.NotAService)


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        (
            "tests.no_such_module:X",
            "cannot import module 'tests.no_such_module': No module named 'tests.no_such_module'",
        ),
        ("tests.svc_declare:Nope", "module 'tests.svc_declare' has no attribute 'Nope'"),
        ("tests.svc_declare:VALUE", "tests.svc_declare:VALUE is 42, not a class"),
        (
            "no_colon",
            "'no_colon' is not MODULE:CLASS (for example 'examples.hello.graph:Frontend')",
        ),
        (
            "tests.svc_broken_import:X",
            "importing tests.svc_broken_import failed: RuntimeError: svc_broken_import fails on "
            "purpose",
        ),
    ],
)
def test_a_string_binding_that_cannot_be_imported(ref: str, why: str) -> None:
    reg = Registry()
    reg.bind(svc.WORKER_SID, ref)
    with pytest.raises(GraphError) as info:
        reg.resolve(svc.WORKER_SID, needed_by="Frontend.worker")
    msg = str(info.value)
    assert msg.startswith(
        f"the binding of {svc.WORKER_SID} (needed by Frontend.worker) names {ref}, which cannot be "
        f"imported: {why}"
    )
    assert "fix: check the module path and class name in the binding" in msg


def test_a_string_binding_to_a_class_without_the_sid() -> None:
    reg = Registry()
    reg.bind(svc.WORKER_SID, "tests.svc_declare:Cache")
    with pytest.raises(GraphError, match=r"binding for sid://.*Cache does not declare that SID"):
        reg.resolve(svc.WORKER_SID)


def test_blueprints_by_key() -> None:
    reg = Registry()
    reg.register(svc.Worker)
    reg.register(svc.Frontend)
    bps = reg.blueprints()
    assert list(bps) == [svc.WORKER_SID, svc.WORKER_V2_SID, "name:Frontend"]
    assert bps[svc.WORKER_SID] is bps[svc.WORKER_V2_SID]


# -- discovery from a directory ---------------------------------------------------------------


def test_discover_a_directory(clean_path: None, caplog: pytest.LogCaptureFixture) -> None:
    reg = Registry()
    with caplog.at_level(logging.ERROR, logger="reverie.registry"):
        report = reg.discover(FIXTURE)
    assert isinstance(report, DiscoveryReport)
    assert report.source == str(FIXTURE.resolve())
    assert report.registered == [
        "disc_alpha:Alpha",
        "disc_alpha:Nameless",
        "disc_beta:Beta",  # Alpha, imported into disc_beta, is registered once, from disc_alpha
        "disc_pkg:PkgRoot",
        "disc_pkg.inner:Inner",
        "disc_pkg.sub.deep:Deep",
        "disc_rival:RivalAlpha",
    ]
    assert report.modules == [
        "disc_alpha",
        "disc_beta",
        "disc_pkg",
        "disc_pkg.inner",
        "disc_pkg.sub",
        "disc_pkg.sub.deep",
        "disc_rival",
    ]
    assert str(FIXTURE.resolve()) in sys.path
    # Origins are the files the classes came from.
    beta = reg.resolve("sid://reverie.test/disc/beta")
    assert reg.origin(beta) == str(FIXTURE.resolve() / "disc_beta.py")
    assert reg.resolve("name:Nameless").__name__ == "Nameless"
    assert reg.resolve("sid://reverie.test/disc/pkg/deep").__module__ == "disc_pkg.sub.deep"


def test_discovery_reports_failures_and_loads_the_rest(
    clean_path: None, caplog: pytest.LogCaptureFixture
) -> None:
    reg = Registry()
    with caplog.at_level(logging.ERROR, logger="reverie.registry"):
        report = reg.discover(FIXTURE)
    assert not report.ok
    files = [where for where, _ in report.errors]
    root = FIXTURE.resolve()
    assert files == [str(root / "disc_broken.py"), str(root / "disc_pkg" / "sub" / "bad.py")]
    broken_tb = report.errors[0][1]
    assert broken_tb.startswith("Traceback (most recent call last):")
    assert f'File "{root / "disc_broken.py"}", line 3, in <module>' in broken_tb
    assert broken_tb.rstrip().endswith("RuntimeError: disc_broken fails on purpose")
    assert "importlib" not in broken_tb  # the import machinery's frames are trimmed
    assert "No module named 'a_module_that_does_not_exist_anywhere'" in report.errors[1][1]
    summary = report.summary()
    assert summary.startswith(f"{root}: 7 service(s) from 7 module(s), 2 failed: ")
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"discovery: cannot import {root / 'disc_broken.py'}:") for m in logged)
    assert any("RuntimeError: disc_broken fails on purpose" in m for m in logged)


def test_discovered_conflict_needs_a_binding(clean_path: None) -> None:
    reg = Registry()
    reg.discover(FIXTURE)
    with pytest.raises(DuplicateSIDError) as info:
        reg.resolve(ALPHA)
    assert "is claimed by disc_alpha:Alpha (" in str(info.value)
    assert "and disc_rival:RivalAlpha (" in str(info.value)
    assert "disc_rival.py)" in str(info.value)
    reg.bind(ALPHA, "disc_rival:RivalAlpha")
    assert reg.resolve(ALPHA).__name__ == "RivalAlpha"


def test_discovering_again_finds_the_same_classes(clean_path: None) -> None:
    reg = Registry()
    first = reg.discover(FIXTURE)
    second = reg.discover(str(FIXTURE))
    assert first.registered == second.registered
    assert len(reg.classes()) == 7
    assert sys.path.count(str(FIXTURE.resolve())) == 1


def test_a_file_whose_module_name_is_taken(clean_path: None, tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text("raise AssertionError('must never be imported')\n")
    (tmp_path / "disc_tmp_ok.py").write_text(
        textwrap.dedent("""
        import json
        from reverie import service

        @service(sid="sid://reverie.test/disc/tmp-ok")
        class TmpOk:
            encoder = json.dumps
    """)
    )
    reg = Registry()
    report = reg.discover(tmp_path)
    assert report.registered == ["disc_tmp_ok:TmpOk"]
    ((where, msg),) = report.errors
    assert where == str(tmp_path.resolve() / "json.py")
    taken = f"module name 'json' of {tmp_path.resolve() / 'json.py'} is already taken"
    assert msg.startswith(taken)
    assert msg.endswith("rename the file so its module name is unique")
    import json

    assert not json.__file__.startswith(str(tmp_path))


def test_a_syntax_error_is_reported_with_file_and_line(clean_path: None, tmp_path: Path) -> None:
    (tmp_path / "disc_tmp_syntax.py").write_text("def broken(:\n    pass\n")
    report = Registry().discover(tmp_path)
    ((where, tb),) = report.errors
    assert where.endswith("disc_tmp_syntax.py")
    assert f'File "{tmp_path.resolve() / "disc_tmp_syntax.py"}", line 1' in tb
    assert "SyntaxError" in tb


def test_a_module_calling_sys_exit_does_not_stop_discovery(
    clean_path: None, tmp_path: Path
) -> None:
    (tmp_path / "disc_tmp_exit.py").write_text("import sys\nsys.exit(3)\n")
    report = Registry().discover(tmp_path)
    ((where, tb),) = report.errors
    assert where.endswith("disc_tmp_exit.py") and "SystemExit: 3" in tb


def test_discover_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        Registry().discover(tmp_path / "nope")
    assert f"discover({str(tmp_path / 'nope')!r}): no such directory" in str(info.value)


# -- discovery from entry points --------------------------------------------------------------


def _dist(site: Path, group: str, entries: dict[str, str]) -> None:
    """A real installed-distribution record that importlib.metadata finds on sys.path."""
    info = site / "reverie_ep_fixture-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: reverie-ep-fixture\nVersion: 0.1\n"
    )
    lines = [f"[{group}]"] + [f"{k} = {v}" for k, v in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def test_discover_entry_points(tmp_path: Path, clean_path: None) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "reverie_ep_services.py").write_text(
        textwrap.dedent("""
        from reverie import service

        @service(sid="sid://reverie.test/ep/one")
        class EpOne:
            pass

        @service(sid="sid://reverie.test/ep/two")
        class EpTwo:
            pass

        def helper():
            return 1
    """)
    )
    (site / "reverie_ep_broken.py").write_text("raise ImportError('ep broken on purpose')\n")
    group = "reverie.services.test"
    _dist(
        site,
        group,
        {
            "one": "reverie_ep_services:EpOne",
            "all": "reverie_ep_services",
            "broken": "reverie_ep_broken:Nothing",
            "helper": "reverie_ep_services:helper",
        },
    )
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    reg = Registry()
    report = reg.discover_entry_points(group)
    assert report.source == "entry points 'reverie.services.test'"
    assert report.registered == [
        "reverie_ep_services:EpOne",
        "reverie_ep_services:EpOne",
        "reverie_ep_services:EpTwo",
    ]
    assert reg.resolve("sid://reverie.test/ep/two").__name__ == "EpTwo"
    ep_one = reg.resolve("sid://reverie.test/ep/one")
    assert reg.origin(ep_one) == (
        "entry point one = reverie_ep_services:EpOne (from reverie-ep-fixture)"
    )
    errors = dict(report.errors)
    broken = "entry point broken = reverie_ep_broken:Nothing (from reverie-ep-fixture)"
    assert "ImportError: ep broken on purpose" in errors[broken]
    helper = "entry point helper = reverie_ep_services:helper (from reverie-ep-fixture)"
    assert errors[helper].startswith(f"{helper} is <function helper")
    assert errors[helper].endswith("neither a service class nor a module")


def test_default_entry_point_group(tmp_path: Path, clean_path: None) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "reverie_ep_default.py").write_text(
        textwrap.dedent("""
        from reverie import service

        @service(sid="sid://reverie.test/ep/default")
        class EpDefault:
            pass
    """)
    )
    _dist(site, "reverie.services", {"default": "reverie_ep_default:EpDefault"})
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    report = Registry().discover_entry_points()
    assert "reverie_ep_default:EpDefault" in report.registered
    assert report.summary().startswith("entry points 'reverie.services': ")


def test_no_entry_points_is_an_empty_report() -> None:
    report = Registry().discover_entry_points("reverie.services.nothing-here")
    assert report.ok and report.registered == [] and report.modules == []
