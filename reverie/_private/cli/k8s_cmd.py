"""``reverie k8s MODULE:CLASS -f deploy.yaml``: Kubernetes manifests from the deployment file.

Writes YAML to stdout (or ``-o FILE``); ``--check`` validates every manifest against the
Kubernetes schemas offline (the ``kubernetes-validate`` package) before printing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from .common import fail

__all__ = ["register"]


def k8s_cmd(
    target: Annotated[
        str,
        typer.Argument(
            help="The entry service, as MODULE:CLASS (or a MODULE whose 'entry' names it)."
        ),
    ],
    file: Annotated[Path, typer.Option("-f", "--file", help="The deployment YAML file.")],
    image: Annotated[
        str, typer.Option(help="The container image with your code and reverie installed.")
    ] = "reverie-app:latest",
    nats: Annotated[
        str,
        typer.Option(
            help="NATS URL(s) the pods use (default: the official nats Helm chart's Service)."
        ),
    ] = "nats://nats:4222",
    nats_replicas: Annotated[
        int,
        typer.Option(help="Copies of the runtime's KV buckets (3 with a 3-member NATS cluster)."),
    ] = 3,
    namespace: Annotated[
        str | None,
        typer.Option(help="metadata.namespace of every object (default: none, kubectl's current)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Prefix of the object names (default: the entry service's name)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file instead of stdout.")
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Validate against the Kubernetes schemas (kubernetes-validate)."
        ),
    ] = False,
    kube_version: Annotated[
        str | None,
        typer.Option(
            help="With --check: the Kubernetes version to validate for (default: the newest the "
            "installed kubernetes-validate knows)."
        ),
    ] = None,
) -> None:
    """Kubernetes manifests: a ConfigMap with the deployment file, one Deployment per node of
    its nodes: section (or one for the graph), resources with nvidia.com/gpu, env with their
    sources, probes on /health/live and /health/ready, a Service for the entry."""
    from reverie._private.config.deployment import load_deployment
    from reverie._private.config.k8s import K8sOptions, manifests, render
    from reverie.errors import ReverieError

    from .serve_cmd import _load

    entry = _load(target)
    try:
        dep = load_deployment(file)
        text = file.read_text(encoding="utf-8")
        opts = K8sOptions(
            image=image,
            namespace=namespace,
            nats=nats,
            replicas=nats_replicas,
            name=name,
            nats_source="--nats"
            if nats != "nats://nats:4222"
            else "default: the Service of the official nats Helm chart",
        )
        docs = manifests(target, entry, dep, text, os.path.basename(str(file)), opts)
    except ReverieError as exc:
        fail(str(exc))
    if check:
        problems = validate([d for d, _ in docs], kube_version)
        if problems:
            fail("the manifests do not validate:\n" + "\n".join(f"  - {p}" for p in problems))
    header = (
        f"# reverie k8s {target} -f {file}: generated from the deployment file; edit that "
        f"file, not this one\n"
    )
    out = render(docs, header)
    if output is not None:
        output.write_text(out, encoding="utf-8")
        typer.echo(f"wrote {len(docs)} manifests to {output}", err=True)
    else:
        typer.echo(out, nl=False)


def validate(docs: list[dict[str, object]], version: str | None) -> list[str]:
    """Problems with ``docs`` per the Kubernetes JSON schemas (strict: unknown fields count)."""
    try:
        import kubernetes_validate  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        fail("--check needs the kubernetes-validate package (pip install kubernetes-validate)")
    version = version or kubernetes_validate.latest_version()
    problems = []
    for d in docs:
        meta = d.get("metadata")
        label = f"{d.get('kind')} {meta.get('name') if isinstance(meta, dict) else '?'}"
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            problems.append(f"{label}: {exc.message} (at {path or 'the top'})")
        except Exception as exc:  # schema missing for this version, ...
            problems.append(f"{label}: {type(exc).__name__}: {exc}")
    return problems


def register(app: typer.Typer) -> None:
    """Add ``k8s`` to ``app``."""
    app.command("k8s")(k8s_cmd)
