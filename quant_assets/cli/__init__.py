"""The ``quant-assets`` command line (also ``python -m quant_assets.cli``).

Each subcommand is a thin call into the code the assets and sensors use, running in the
Dagster instance of ``$DAGSTER_HOME`` (``make`` points it at ``dagster_home/``) on the data
directory of ``$QUANT_ASSETS_DATA_DIR`` (default ``data/``):

* ``run``: seed the default data and materialize every asset (what ``make run`` does);
* ``ingest``: read raw files into the warehouse as the raw-file sensor does, one line per file;
* ``status``: settings, warehouse contents, last runs, quarantine, stale partitions;
* ``report``: rebuild the HTML backtest report and print its path.

Heavy imports (Dagster definitions, torch) happen inside the commands, so ``--help`` is quick.
"""

from __future__ import annotations

import contextlib
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="quant-assets",
    help="Run, feed and inspect the quant_assets Dagster pipeline.",
    no_args_is_help=True,
    add_completion=False,
)


def _names(values: list[str] | None, upper: bool = False) -> list[str]:
    """Repeated or comma-separated option values, stripped (and upper-cased for tickers)."""
    names = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    return [n.upper() for n in names] if upper else names


@app.command()
def run(
    tickers: Annotated[
        list[str] | None,
        typer.Option(help="Only these tickers (repeat or comma-separate); default all."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="First trading day (YYYY-MM-DD) of factors, predictions, weights."),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last trading day (YYYY-MM-DD); default the newest.")
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(help="Model kinds to train, e.g. mlp,ridge,tsmom; default every kind."),
    ] = None,
) -> None:
    """Seed the default data and materialize every asset in order; print the stage timings."""
    from quant_assets.cli import pipeline
    from quant_assets.cli.dagster_runs import open_instance, resources
    from quant_assets.cli.status import print_warehouse

    options = pipeline.RunOptions(
        tickers=tuple(_names(tickers, upper=True)),
        start=start,
        end=end,
        models=tuple(_names(models)),
    )
    console = Console(highlight=False, markup=False)
    res = resources()
    with open_instance() as instance, _exit_on_failure():
        clock = pipeline.StageClock(pipeline.new_progress(console))
        try:
            with clock.progress:
                summary = pipeline.run_pipeline(instance, res, options, clock)
        finally:
            console.print(clock.table())
    print_warehouse(console, res["warehouse"])
    console.print(f"\nThe backtest report: {summary.report}")
    console.print("The Dagster UI: `make ui` (http://127.0.0.1:3000); MLflow: `make mlflow`.")


@contextlib.contextmanager
def _exit_on_failure() -> Iterator[None]:
    """A refused option exits 2, a failed run 1, each with its message on stderr."""
    from quant_assets.cli.dagster_runs import BadOption, RunFailed

    try:
        yield
    except BadOption as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except RunFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders inside the raw folder; default the whole folder."),
    ] = None,
) -> None:
    """Read raw price files into the warehouse as the raw-file sensor does; one line per file.

    Exits 1 when a file was refused or its run failed; the other files land all the same.
    """
    from quant_assets.cli.dagster_runs import open_instance, resources
    from quant_assets.cli.ingest import ingest as ingest_files

    with open_instance() as instance:
        outcomes = ingest_files(instance, resources(), list(paths or []))
    for outcome in outcomes:
        typer.echo(outcome.line())
    if not outcomes:
        typer.echo("no price files found", err=True)
    if any(o.refused is not None for o in outcomes):
        raise typer.Exit(1)


@app.command()
def status() -> None:
    """Settings (key masked), tickers, date range, rows, last runs, quarantine, stale days."""
    from quant_assets.cli.dagster_runs import current_settings, open_instance, resources
    from quant_assets.cli.status import print_status

    settings = current_settings()
    console = Console(highlight=False, markup=False)
    if settings.dagster_home is None:
        print_status(console, settings, None, resources()["warehouse"])
        return
    with open_instance() as instance:
        print_status(console, settings, instance, resources()["warehouse"])


@app.command()
def report(
    open_: Annotated[
        bool, typer.Option("--open", help="Open the report in the web browser.")
    ] = False,
) -> None:
    """Rebuild the HTML backtest report (materializes backtest_report) and print its path."""
    from quant_assets.cli.dagster_runs import open_instance, resources
    from quant_assets.cli.pipeline import build_report

    with open_instance() as instance, _exit_on_failure():
        path = build_report(instance, resources())
    typer.echo(str(path))
    if open_:
        webbrowser.open(path.resolve().as_uri())


def main() -> None:
    """The console script's entry point."""
    app()
