"""`geo311 i18n ...`: keep the translation catalogs in step with the code and the category file.

Wired into cli.py with `app.add_typer(i18n_app, name="i18n")`; also `make messages`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

i18n_app = typer.Typer(help="Translations: extract new texts into the catalogs, check them.", no_args_is_help=True)

CategoryOpt = Annotated[list[Path] | None, typer.Option(
    "--categories", exists=True, dir_okay=False,
    help="category file(s) whose texts residents read (default: the Portland demo's)")]


@i18n_app.command("extract")
def extract(categories: CategoryOpt = None,
            pot: Annotated[Path | None, typer.Option(help="also write a .pot template here")] = None) -> None:
    """Find every text a resident can see and merge it into geo311/locale/*/LC_MESSAGES/messages.po."""
    from geo311.i18n_extract import update

    update(categories, pot=pot, say=typer.echo)


@i18n_app.command("check")
def check(categories: CategoryOpt = None) -> None:
    """Exit 1 when a text has no translation in some catalog (or a translation drops a placeholder)."""
    from geo311.i18n_extract import problems

    found = problems(categories)
    for line in found:
        typer.echo(line, err=True)
    if found:
        raise typer.Exit(1)
    typer.echo("every text is translated in every catalog")


if __name__ == "__main__":       # `python -m geo311.i18n_cli extract` (what `make messages` runs)
    i18n_app()
