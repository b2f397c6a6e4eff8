"""`kg local`: build, start, stop and inspect the embedded llama-server (127.0.0.1, CPU)."""

from __future__ import annotations

import sys

import click

from kg_pipeline.cli.common import fail
from kg_pipeline.serving.llama_build import BuildError, build, build_dir, find_build, server_binary
from kg_pipeline.serving.local_model import ModelUnavailable, ensure_model
from kg_pipeline.serving.local_server import (
    DEFAULT_PORT,
    DEFAULT_SLOTS,
    LocalServer,
    LocalServerError,
    cpu_threads,
)


@click.group()
def local() -> None:
    """The embedded model server: llama.cpp's llama-server (127.0.0.1, CPU)."""


_port = click.option("--port", default=DEFAULT_PORT, show_default=True, help="Loopback port.")


@local.command("build")
@click.option("--jobs", type=click.IntRange(min=1), help="Parallel compile jobs (all cores).")
def build_command(jobs: int | None) -> None:
    """Compile llama-server from the pinned llama.cpp source (once; cached per CPU)."""
    if (found := find_build()) is not None:
        click.secho(f"llama-server already built for this machine: {found.binary()}", fg="green")
        return
    click.echo(f"compiling llama-server for this CPU into {build_dir()} (minutes, once) ...")
    with click.progressbar(length=1, label="llama.cpp", show_pos=True) as bar:

        def advance(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        try:
            built = build(jobs=jobs, on_step=advance)
        except BuildError as exc:
            fail(str(exc))
    click.secho(f"built {built.binary()} in {built.seconds or 0:.0f}s", fg="green")


@local.command()
@_port
@click.option(
    "--threads", default=cpu_threads(), show_default=True, help="CPU threads (default: all)."
)
@click.option(
    "--parallel",
    "slots",
    default=DEFAULT_SLOTS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests decoded at once (slots; KG_LOCAL_SLOTS). Give the registered model as many "
    "with `kg admin extraction set --max-concurrent-requests`.",
)
def start(port: int, threads: int, slots: int) -> None:
    """Assemble the embedded model if needed and start its server (no-op if running)."""
    server = LocalServer(port=port, threads=threads, slots=slots)
    try:
        click.echo(f"server: {server_binary()}")
        click.echo(f"model: {ensure_model()}")
        status = server.start()
    except (ModelUnavailable, LocalServerError, BuildError) as exc:
        fail(str(exc))
    click.secho(status.describe(), fg="green")
    click.echo(f"log: {status.log_file}")


@local.command()
@_port
def stop(port: int) -> None:
    """Stop the embedded server that `kg local start` started."""
    stopped = LocalServer(port=port).stop()
    click.echo("stopped" if stopped else "no server started by kg was running")


@local.command()
@_port
def status(port: int) -> None:
    """Whether the embedded server answers, what it serves and how many slots are busy."""
    current = LocalServer(port=port).status()
    click.secho(current.describe(), fg="green" if current.answering else "yellow")
    sys.exit(0 if current.answering else 3)
