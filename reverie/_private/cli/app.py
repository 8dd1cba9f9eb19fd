"""Assembles the typer application from the command modules."""

from __future__ import annotations

import importlib

import typer

# Each module defines `register(app: typer.Typer) -> None`. Add a line to add a command family.
COMMAND_MODULES = [
    "reverie._private.cli.inspect_cmds",  # blueprint, config, graph
    "reverie._private.cli.serve_cmd",  # serve
    "reverie._private.cli.ops_cmds",  # call, ls
    "reverie._private.cli.state_cmds",  # state save/load, swap, migrate
    "reverie._private.cli.k8s_cmd",  # k8s
]


def _version(value: bool) -> None:
    if value:
        from reverie import __version__

        typer.echo(f"reverie {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="reverie",
        help="Reverie: run services written once as plain Python classes.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def main(
        version: bool = typer.Option(
            False,
            "--version",
            callback=_version,
            is_eager=True,
            help="Print Reverie's version and exit.",
        ),
    ) -> None:
        """Reverie: run services written once as plain Python classes."""

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app
