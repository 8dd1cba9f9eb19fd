"""The registry: service classes kept by SID, found by scanning a directory or entry points.

Several classes may claim one SID (anyone may implement a blueprint); that is never a
silent overwrite — resolving such a SID fails until a binding (in code or in the deployment
file) picks one implementation.

Discovery appends the scanned directory to ``sys.path`` and imports each module and package in
it by its plain name, so modules keep their ordinary names (``worker:Worker``), sibling imports
work, and worker processes can re-import a class from its ``module:Class`` reference. A file
whose name is already taken by another module (``json.py``) is reported, never imported.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import pkgutil
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from reverie.errors import (
    ConfigError,
    DuplicateSIDError,
    GraphError,
    MarkupError,
    UnknownSIDError,
)

from ..contract.blueprint import Blueprint, blueprint, class_ref
from ..declare.service import get_meta, is_service
from ..importer import import_ref

__all__ = ["DiscoveryReport", "Registry", "name_key"]

log = logging.getLogger("reverie.registry")

ENTRY_POINT_GROUP = "reverie.services"


def name_key(name: str) -> str:
    """The registry key of a service declared without a SID: ``name:<Name>``."""
    return f"name:{name}"


@dataclass
class DiscoveryReport:
    """What one discovery pass found: registered classes, imported modules and failures.

    ``errors`` holds ``(where, formatted traceback)`` pairs, ``where`` being the file (or the
    entry point) that failed; the other modules still load.
    """

    source: str
    registered: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line for logs and the CLI."""
        text = (
            f"{self.source}: {len(self.registered)} service(s) from {len(self.modules)} module(s)"
        )
        if self.errors:
            text += f", {len(self.errors)} failed: {', '.join(w for w, _ in self.errors)}"
        return text


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the first frame outside the import machinery and this module."""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if (
            filename != __file__
            and not filename.startswith("<frozen")
            and ("importlib" not in filename)
        ):
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


class Registry:
    """Service classes by SID (and by ``name:<Name>`` for classes without one)."""

    def __init__(self) -> None:
        self._claims: dict[str, list[type]] = {}
        self._classes: list[type] = []
        self._origins: dict[type, str] = {}
        self._bound: dict[str, type | str] = {}

    # -- registering ---------------------------------------------------------------------------

    def register(self, cls: type, *, origin: str | None = None) -> None:
        """Keep ``cls`` under each of its SIDs; registering the same class again is a no-op."""
        if not is_service(cls):
            raise MarkupError(
                f"cannot register {cls!r}: it is not a service class",
                fix="decorate it with @reverie.service(...)",
            )
        meta = get_meta(cls)
        if cls not in self._origins:
            self._classes.append(cls)
            self._origins[cls] = origin or class_ref(cls)
        for key in meta.sids or [name_key(meta.name)]:
            claims = self._claims.setdefault(key, [])
            if cls not in claims:
                claims.append(cls)

    def bind(self, sid: str, cls: type | str) -> None:
        """Pick the implementation of ``sid``: a class, or ``"module:Class"`` (deployment files).

        A class is checked (and registered) now; a string is imported when first resolved.
        """
        if isinstance(cls, str):
            found = [c for c in self._claims.get(sid, []) if class_ref(c) == cls]
            if not found:
                self._bound[sid] = cls
                return
            cls = found[0]
        self._check_claims(sid, cls, "bind")
        self.register(cls, origin=self._origins.get(cls, "bind"))
        self._bound[sid] = cls

    def _check_claims(self, sid: str, cls: type, how: str) -> None:
        if not is_service(cls):
            raise GraphError(
                f"{how} {sid}: {class_ref(cls)} is not a service class",
                fix="decorate it with @reverie.service(sid=...)",
            )
        meta = get_meta(cls)
        keys = meta.sids or [name_key(meta.name)]
        if sid not in keys:
            raise GraphError(
                f"{how} {sid}: {class_ref(cls)} does not declare that SID; it declares "
                f"{', '.join(keys)}",
                fix=f"add {sid!r} to its @service(sid=[...]) or bind another class",
            )

    # -- looking up ----------------------------------------------------------------------------

    def resolve(self, sid: str, needed_by: str | None = None) -> type:
        """The class serving ``sid``: the bound one, else the only claimant.

        Raises ``DuplicateSIDError`` when several classes claim it and none is bound, and
        ``UnknownSIDError`` (listing the known SIDs) when none does.
        """
        bound = self._bound.get(sid)
        if isinstance(bound, str):
            try:
                cls = import_ref(bound, kind="class")
            except ConfigError as exc:
                who = f" (needed by {needed_by})" if needed_by else ""
                raise GraphError(
                    f"the binding of {sid}{who} names {bound}, which cannot be imported: "
                    f"{exc.message}",
                    fix="check the module path and class name in the binding",
                ) from None
            self._check_claims(sid, cls, "binding for")
            self.register(cls, origin=f"bind {bound}")
            self._bound[sid] = bound = cls
        if bound is not None:
            return bound
        claims = self._claims.get(sid, [])
        if len(claims) == 1:
            return claims[0]
        if not claims:
            raise UnknownSIDError(sid, needed_by=needed_by, known=list(self._claims))
        raise DuplicateSIDError(sid, [f"{class_ref(c)} ({self._origins[c]})" for c in claims])

    def claims(self, sid: str) -> list[type]:
        """Every class registered under ``sid`` (bound or not), in registration order."""
        return list(self._claims.get(sid, []))

    def conflicts(self) -> dict[str, list[str]]:
        """SIDs claimed by several classes with no binding: ``{sid: ["module:Class", ...]}``."""
        return {
            sid: [class_ref(c) for c in claims]
            for sid, claims in self._claims.items()
            if len(claims) > 1 and sid not in self._bound
        }

    def sids(self) -> list[str]:
        """Every registry key: SIDs and ``name:<Name>`` keys."""
        return list(self._claims)

    def classes(self) -> list[type]:
        """Every registered class, once each, in registration order."""
        return list(self._classes)

    def origin(self, cls: type) -> str | None:
        """Where ``cls`` came from: a file, an entry point, ``bind`` or its ``module:Class``."""
        return self._origins.get(cls)

    def blueprints(self) -> dict[str, Blueprint]:
        """The blueprint serving each key. Raises ``DuplicateSIDError`` on an unbound conflict."""
        return {sid: blueprint(self.resolve(sid)) for sid in self._claims}

    def __contains__(self, sid: object) -> bool:
        return sid in self._claims or sid in self._bound

    def __len__(self) -> int:
        return len(self._classes)

    # -- discovery -----------------------------------------------------------------------------

    def register_module(self, module: ModuleType, *, origin: str | None = None) -> list[type]:
        """Register every service class defined in ``module`` (not those it imports)."""
        found = []
        for value in list(vars(module).values()):
            if is_service(value) and value.__module__ == module.__name__:
                self.register(value, origin=origin or getattr(module, "__file__", None))
                found.append(value)
        return found

    def discover(self, directory: str | Path) -> DiscoveryReport:
        """Import every module and package in ``directory`` and register their services.

        The directory is appended to ``sys.path``; ``name.py`` files and ``name/__init__.py``
        packages (with all their submodules) are imported by plain name. A file that fails to
        import is reported in ``DiscoveryReport.errors`` with its traceback, and logged; the
        rest still load. Files and folders starting with ``_`` or ``.``, and names that are not
        identifiers, are skipped.
        """
        root = Path(directory).resolve()
        report = DiscoveryReport(source=str(root))
        if not root.is_dir():
            raise FileNotFoundError(f"discover({str(directory)!r}): no such directory")
        if str(root) not in sys.path:
            sys.path.append(str(root))  # last: a discovered file never shadows an installed module
        importlib.invalidate_caches()
        for entry in sorted(root.iterdir()):
            name = entry.stem if entry.is_file() else entry.name
            if name.startswith(("_", ".")) or not name.isidentifier():
                continue
            if entry.is_file() and entry.suffix == ".py":
                self._discover_module(name, entry, root, report)
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                pkg = self._discover_module(name, entry / "__init__.py", root, report)
                if pkg is not None:
                    self._discover_package(pkg, root, report)
        log.info("discovery: %s", report.summary())
        return report

    def _discover_module(
        self, name: str, file: Path, root: Path, report: DiscoveryReport
    ) -> ModuleType | None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin != file.resolve():
            msg = (
                f"module name {name!r} of {file} is already taken by "
                f"{origin or 'a built-in module'}; rename the file so its module name is unique"
            )
            report.errors.append((str(file), msg))
            log.error("discovery: %s", msg)
            return None
        try:
            module = importlib.import_module(name)
        except (Exception, SystemExit) as exc:
            tb = _user_traceback(exc)
            report.errors.append((str(file), tb))
            log.error("discovery: cannot import %s:\n%s", file, tb)
            return None
        self._collect(module, file, report)
        return module

    def _discover_package(self, pkg: ModuleType, root: Path, report: DiscoveryReport) -> None:
        prefix = pkg.__name__ + "."
        # A failing subpackage is imported (and reported) by the loop below before the walk
        # tries it again to descend into it; onerror only keeps the walk going.
        for info in pkgutil.walk_packages(pkg.__path__, prefix, onerror=lambda _name: None):
            if info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            if info.name in sys.modules:
                module = sys.modules[info.name]
            else:
                try:
                    module = importlib.import_module(info.name)
                except (Exception, SystemExit) as exc:
                    file = root.joinpath(*info.name.split("."))
                    where = f"{file}.py" if not file.is_dir() else str(file / "__init__.py")
                    tb = _user_traceback(exc)
                    report.errors.append((where, tb))
                    log.error("discovery: cannot import %s:\n%s", where, tb)
                    continue
            self._collect(module, Path(getattr(module, "__file__", "") or info.name), report)

    def _collect(self, module: ModuleType, file: Path, report: DiscoveryReport) -> None:
        report.modules.append(module.__name__)
        for cls in self.register_module(module, origin=str(file)):
            report.registered.append(class_ref(cls))

    def discover_entry_points(self, group: str = ENTRY_POINT_GROUP) -> DiscoveryReport:
        """Load each entry point in ``group`` and register it (a class) or its services (a module).

        A failing entry point is reported with its traceback; the others still load.
        """
        report = DiscoveryReport(source=f"entry points {group!r}")
        for ep in importlib.metadata.entry_points(group=group):
            dist = getattr(ep, "dist", None)
            where = f"entry point {ep.name} = {ep.value}" + (
                f" (from {dist.name})" if dist is not None else ""
            )
            try:
                obj = ep.load()
            except (Exception, SystemExit) as exc:
                tb = _user_traceback(exc)
                report.errors.append((where, tb))
                log.error("discovery: cannot load %s:\n%s", where, tb)
                continue
            if isinstance(obj, ModuleType):
                report.modules.append(obj.__name__)
                for cls in self.register_module(obj, origin=where):
                    report.registered.append(class_ref(cls))
            elif is_service(obj):
                report.modules.append(obj.__module__)
                self.register(obj, origin=where)
                report.registered.append(class_ref(obj))
            else:
                msg = f"{where} is {obj!r}, neither a service class nor a module"
                report.errors.append((where, msg))
                log.error("discovery: %s", msg)
        log.info("discovery: %s", report.summary())
        return report
