"""The deployment file: per-service config values, ``ServiceArgs``, ``runtime``, ``bind`` and
``Common``, loaded with the file and line of every value.

Loading checks the file's own shape (``load_deployment``); ``check_deployment`` then checks it
against a service graph (section names, config keys, value types, ``bind`` targets), so a bad file
fails before anything starts with a message naming file, line and key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from reverie.errors import DeploymentError

from ..declare.names import NAME_RULE, is_name
from ..host.instance import mount_path_problem
from ..suggest import did_you_mean
from .yamlsource import Sourced, YamlReader, describe_node

if TYPE_CHECKING:
    from ..state.settings import StateSettings
    from .placement import NodeSection

__all__ = [
    "BIND",
    "COMMON",
    "Deployment",
    "ServiceSection",
    "Sourced",
    "did_you_mean",
    "load_deployment",
    "parse_deployment",
]

COMMON = "Common"
BIND = "bind"
SERVICE_ARGS = "ServiceArgs"
RUNTIME = "runtime"
STATE = "state"
NODES = "nodes"

SERVICE_ARGS_KEYS = (
    "workers",
    "resources",
    "env",
    "process",
    "path",
    "expose",
    "url",
    "node",
    "max_concurrent",
)
_PATH = re.compile(r"^[A-Za-z0-9_.~@-]+(/[A-Za-z0-9_.~@-]+)*$")
RESOURCE_KEYS = ("cpu", "gpu", "memory")
RUNTIME_KEYS = ("namespace", "name")
DYNAMO = "dynamo"
DYNAMO_KEYS = ("enabled", "namespace", "name")
PROCESS_MODES = ("separate", "shared")

_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P|k)?$")
_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass
class ServiceSection:
    """One service's section: config values, ``ServiceArgs`` and ``runtime``."""

    name: str
    line: int
    config: dict[str, Sourced] = field(default_factory=dict)
    workers: Sourced | None = None
    resources: dict[str, Sourced] = field(default_factory=dict)
    env: dict[str, Sourced] = field(default_factory=dict)
    runtime: dict[str, Sourced] = field(default_factory=dict)
    #: A Dynamo SDK ``dynamo: {namespace, name}`` section, kept for services whose dialect
    #: accepts it (``reverie.compat.dynamo``); for any other service it is an error with a hint.
    dynamo: dict[str, Sourced] = field(default_factory=dict)
    dynamo_line: int = 0
    process: Sourced | None = None
    path: Sourced | None = None
    #: ``ServiceArgs.expose``: served publicly over HTTP (default: the entry service only)
    expose: Sourced | None = None
    #: ``ServiceArgs.url``: the service runs elsewhere, at this HTTP base URL; not started here
    url: Sourced | None = None
    #: ``ServiceArgs.node``: the node names (a list, even when written as one name).
    node: Sourced | None = None
    max_concurrent: Sourced | None = None  # requests one instance runs at once (HTTP)


@dataclass
class Deployment:
    """A parsed deployment file. ``bind`` maps a SID to ``"module:Class"``."""

    path: str
    services: dict[str, ServiceSection] = field(default_factory=dict)
    common: dict[str, Sourced] = field(default_factory=dict)
    bind: dict[str, Sourced] = field(default_factory=dict)
    common_line: int = 0
    bind_line: int = 0
    state: StateSettings | None = None  # the state: section (checkpoints)
    #: the ``nodes:`` section (placement), in file order; see ``placement.py`` in this package
    nodes: dict[str, NodeSection] = field(default_factory=dict)
    nodes_line: int = 0
    #: Sections keyed by a SID (``"sid://...": {ServiceArgs: {url: ...}}``): where the service
    #: that provides the SID runs, whatever its name; SID -> the ``url`` value.
    sid_urls: dict[str, Sourced] = field(default_factory=dict)

    def section(self, name: str) -> ServiceSection | None:
        """The section of the service called ``name``, if the file has one."""
        return self.services.get(name)

    def url_for(self, name: str, sids: Iterable[str]) -> Sourced | None:
        """Where the service called ``name`` (providing ``sids``) runs, if elsewhere: its
        section's ``ServiceArgs: url``, else that of a section keyed by one of its SIDs."""
        section = self.services.get(name)
        if section is not None and section.url is not None:
            return section.url
        for sid in sids:
            url = self.sid_urls.get(sid)
            if url is not None:
                return url
        return None

    def where(self, line: int) -> str:
        return f"{self.path}:{line}" if line else self.path


# -- loading ------------------------------------------------------------------------------------


def load_deployment(path: str | os.PathLike[str]) -> Deployment:
    """Read and parse a deployment file; see ``parse_deployment``."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise DeploymentError(
            f"cannot read the deployment file: {exc.strerror or exc}",
            file=name,
            fix="check the path given with -f / deployment=",
        ) from None
    return parse_deployment(text, name)


def parse_deployment(text: str, path: str = "<string>") -> Deployment:
    """Parse deployment YAML, checking its shape; every value keeps its file and line."""
    return _Parser(text, path).parse()


class _Parser(YamlReader):
    """The deployment file's sections, read with ``YamlReader``'s checked helpers."""

    # sections

    def parse(self) -> Deployment:
        try:
            root = self.loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            problem = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
            raise DeploymentError(
                f"invalid YAML: {problem}",
                file=self.path,
                line=line,
                fix="fix the YAML syntax (indentation, ':' after keys, quotes)",
            ) from None
        except yaml.YAMLError as exc:
            raise DeploymentError(f"invalid YAML: {exc}", file=self.path) from None
        finally:
            self.loader.dispose()
        dep = Deployment(self.path)
        if root is None:
            return dep
        if not isinstance(root, yaml.MappingNode):
            raise self.err(
                f"the top level must be a mapping of sections (service names, {COMMON}, {BIND}, "
                f"{NODES}), "
                f"got {describe_node(root)}",
                root,
                None,
            )
        for name, knode, vnode in self.mapping(root, "", "the top level"):
            line = knode.start_mark.line + 1
            if name.startswith(("x-", ".")):
                continue  # anchors / extension fields, as in docker compose
            if name == COMMON:
                dep.common_line = line
                dep.common = self.common(vnode)
            elif name == BIND:
                dep.bind_line = line
                dep.bind = self.bind(vnode)
            elif name == STATE:
                from ..state.settings import parse_state_section  # checkpoints

                dep.state = parse_state_section(self, vnode, self.path)
            elif name == NODES:
                from .placement import parse_nodes

                dep.nodes_line = line
                dep.nodes = parse_nodes(self, vnode)
            elif name.startswith("sid://"):
                dep.sid_urls[name] = self.sid_section(name, vnode)
            elif name in (SERVICE_ARGS, RUNTIME):
                raise self.err(
                    f"{name!r} at the top level; it belongs inside a service's section",
                    knode,
                    name,
                    fix=f"indent it under the service it configures ('Worker: {{{name}: ...}}')",
                )
            else:
                dep.services[name] = self.service(name, line, vnode)
        return dep

    def sid_section(self, sid: str, node: yaml.Node) -> Sourced:
        """A section keyed by a SID: only ``ServiceArgs: url`` (where that service runs)."""
        url: Sourced | None = None
        for key, knode, vnode in self.mapping(node, sid, f"section {sid!r}"):
            if key != SERVICE_ARGS:
                raise self.err(
                    f"a section keyed by a SID says only where that service runs "
                    f"({SERVICE_ARGS}: url), not {key!r}",
                    knode,
                    f"{sid}.{key}",
                    fix="put config values and other ServiceArgs in the section named after "
                    "the service",
                )
            where = f"{sid}.{SERVICE_ARGS}"
            for _, unode, dotted in self.known(
                vnode, where, ("url",), "key", f"{SERVICE_ARGS} of a section keyed by a SID"
            ):
                url = self.url(unode, dotted)
        if url is None:
            raise self.err(
                f"section {sid!r} sets nothing; a section keyed by a SID gives {SERVICE_ARGS}: url",
                node,
                sid,
                fix=f"write '{sid}: {{{SERVICE_ARGS}: {{url: http://10.0.0.5:8000/Feed}}}}'",
            )
        return url

    def url(self, node: yaml.Node, key: str) -> Sourced:
        return self.checked(
            node,
            key,
            lambda x: isinstance(x, str) and x.startswith(("http://", "https://")),
            "url must be the http:// or https:// base URL of the service's remote instance "
            "(e.g. http://10.0.0.5:8000/Feed)",
        )

    def common(self, node: yaml.Node) -> dict[str, Sourced]:
        out: dict[str, Sourced] = {}
        for name, knode, vnode in self.mapping(node, COMMON, f"the {COMMON} section"):
            if name in (SERVICE_ARGS, RUNTIME):
                raise self.err(
                    f"{COMMON} holds config values only; {name} goes in each service's section",
                    knode,
                    f"{COMMON}.{name}",
                )
            out[name] = self.src(vnode)
            out[name].source += f" ({COMMON})"
        return out

    def bind(self, node: yaml.Node) -> dict[str, Sourced]:
        out: dict[str, Sourced] = {}
        for sid, knode, vnode in self.mapping(node, BIND, "the bind section"):
            if not sid.startswith("sid://") or len(sid) <= len("sid://"):
                raise self.err(
                    f"bind key {sid!r} is not a SID",
                    knode,
                    f"{BIND}.{sid}",
                    fix='write it like "sid://example.org/2026/worker": mypkg.workers:FastWorker',
                )
            value = self.src(vnode)
            if not isinstance(value.value, str) or not _TARGET.match(value.value):
                raise self.err(
                    f"bind target {value.value!r} is not 'module:Class'",
                    vnode,
                    f"{BIND}.{sid}",
                    fix="name the implementation like mypkg.workers:FastWorker",
                )
            out[sid] = value
        return out

    def service(self, name: str, line: int, node: yaml.Node) -> ServiceSection:
        sec = ServiceSection(name, line)
        for key, knode, vnode in self.mapping(node, name, f"section {name!r}"):
            if key == SERVICE_ARGS:
                self.service_args(sec, vnode)
            elif key == RUNTIME:
                self.runtime(sec, vnode)
            elif key == DYNAMO and isinstance(vnode, yaml.MappingNode):
                sec.dynamo_line = knode.start_mark.line + 1
                self.runtime(sec, vnode, DYNAMO, sec.dynamo)
            else:
                sec.config[key] = self.src(vnode)
        return sec

    def service_args(self, sec: ServiceSection, node: yaml.Node) -> None:
        where = f"{sec.name}.{SERVICE_ARGS}"
        for key, vnode, dotted in self.known(node, where, SERVICE_ARGS_KEYS, "key", SERVICE_ARGS):
            if key == "workers":
                v = self.src(vnode)
                if not _is_int(v.value) or v.value < 1:
                    raise self.err(
                        f"workers must be an integer >= 1, got {v.value!r}", vnode, dotted
                    )
                sec.workers = v
            elif key == "max_concurrent":
                v = self.src(vnode)
                if not _is_int(v.value) or v.value < 1:
                    raise self.err(
                        f"max_concurrent must be an integer >= 1 (requests one instance runs at "
                        f"once), got {v.value!r}",
                        vnode,
                        dotted,
                    )
                sec.max_concurrent = v
            elif key == "process":
                v = self.src(vnode)
                if v.value not in PROCESS_MODES:
                    raise self.err(
                        f"process must be one of {', '.join(PROCESS_MODES)}, got {v.value!r}"
                        + (did_you_mean(str(v.value), PROCESS_MODES) if v.value else ""),
                        vnode,
                        dotted,
                    )
                sec.process = v
            elif key == "path":
                v = self.src(vnode)
                text = v.value.strip("/") if isinstance(v.value, str) else ""
                problem = mount_path_problem(text)
                if not _PATH.match(text) or text.startswith("@") or problem is not None:
                    raise self.err(
                        f"path must be a URL path such as 'v1' or 'api/v1' (letters, digits, "
                        f"'_.~-', not starting with '@', no '.' or '..' segments), got "
                        f"{v.value!r}" + (f": {problem}" if problem else ""),
                        vnode,
                        dotted,
                    )
                sec.path = Sourced(text, v.source, v.line, v.raw, v.file)
            elif key == "url":
                sec.url = self.url(vnode, dotted)
            elif key == "expose":
                sec.expose = self.checked(
                    vnode,
                    dotted,
                    lambda x: isinstance(x, bool),
                    "expose must be true or false (serve this service publicly over HTTP; "
                    "the default is true for the entry service only)",
                )
            elif key == "node":
                from .placement import parse_node_names

                sec.node = parse_node_names(self, vnode, dotted)
            elif key == "resources":
                self.resources(sec, vnode, dotted)
            else:
                self.env(sec, vnode, dotted)

    def resources(self, sec: ServiceSection, node: yaml.Node, where: str) -> None:
        for key, vnode, dotted in self.known(node, where, RESOURCE_KEYS, "resource", "resources"):
            v = self.src(vnode)
            problem = _check_resource(key, v.value)
            if problem:
                raise self.err(problem, vnode, dotted)
            sec.resources[key] = v

    def env(self, sec: ServiceSection, node: yaml.Node, where: str) -> None:
        for key, knode, vnode in self.mapping(node, where, where):
            dotted = f"{where}.{key}"
            if not _ENV_NAME.match(key):
                raise self.err(
                    f"{key!r} is not an environment variable name (letters, digits, '_')",
                    knode,
                    dotted,
                )
            if not isinstance(vnode, yaml.ScalarNode) or vnode.tag == "tag:yaml.org,2002:null":
                raise self.err(
                    f"environment values are strings, got {describe_node(vnode)}",
                    vnode,
                    dotted,
                    fix=f'quote the value: {key}: "..."',
                )
            line = vnode.start_mark.line + 1
            # The text as written: `HF_OFFLINE: true` gives "true", not "True".
            sec.env[key] = Sourced(
                str(vnode.value), f"{self.path}:{line}", line, str(vnode.value), self.path
            )

    def runtime(
        self,
        sec: ServiceSection,
        node: yaml.Node,
        section: str = RUNTIME,
        into: dict[str, Sourced] | None = None,
    ) -> None:
        where = f"{sec.name}.{section}"
        allowed = RUNTIME_KEYS if section == RUNTIME else DYNAMO_KEYS
        for key, vnode, dotted in self.known(node, where, allowed, "key", section):
            v = self.src(vnode)
            if key == "enabled":
                if not isinstance(v.value, bool):
                    raise self.err(f"enabled must be true or false, got {v.value!r}", vnode, dotted)
                continue
            if not is_name(v.value):
                raise self.err(
                    f"{key} must be {NAME_RULE} (it becomes a NATS subject token and part of "
                    f"URL paths), got {v.value!r}",
                    vnode,
                    dotted,
                )
            (sec.runtime if into is None else into)[key] = v


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_resource(key: str, value: Any) -> str | None:
    """A message if ``value`` is not a valid amount of resource ``key``."""
    if key == "gpu":
        if _is_int(value) and value >= 0:
            return None
        if isinstance(value, float) and 0 < value < 1:
            return None  # a fraction of one GPU
        return f"gpu must be a whole number >= 0 (or a fraction below 1), got {value!r}"
    if key == "cpu":
        if (_is_int(value) or isinstance(value, float)) and value > 0:
            return None
        if isinstance(value, str) and _CPU.match(value.strip()):
            return None
        return f"cpu must be a number > 0 or millicores like '500m', got {value!r}"
    if _is_int(value) and value > 0:
        return None
    if isinstance(value, str) and _MEMORY.match(value.strip()):
        return None
    return f"memory must be bytes or a size like '8Gi' or '512Mi', got {value!r}"
