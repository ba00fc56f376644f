"""The ``okgen`` command line: thin Typer commands over the library functions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import __version__
from .errors import OkgenError

app = typer.Typer(
    help="Generate standalone, editable PyTorch Lightning projects for computer vision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"okgen {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """okgen writes a project you own: plain Lightning code plus vendored components."""


def _fail(error: OkgenError) -> typer.Exit:
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    return typer.Exit(error.exit_code)


def _prompt(text: str, choices: list[str] | None, default: Any) -> Any:
    """Ask one question on the terminal; list answers are comma-separated."""
    if isinstance(default, bool):
        return typer.confirm(text, default=default)
    if choices:
        text = f"{text} [{', '.join(choices)}]"
    if isinstance(default, list):
        raw = typer.prompt(text, default=",".join(default))
        return [part.strip() for part in raw.split(",") if part.strip()]
    return typer.prompt(text, default=default, type=type(default) if default is not None else str)


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="Project name; 'my-project' gives package my_project.")],
    *,
    task: Annotated[str | None, typer.Option(help="classification, multilabel, segmentation.")] = None,
    backbone: Annotated[str | None, typer.Option(help="A timm model name.")] = None,
    neck: Annotated[str | None, typer.Option(help="Neck component.")] = None,
    pooling: Annotated[str | None, typer.Option(help="Pooling component.")] = None,
    head: Annotated[str | None, typer.Option(help="Head component.")] = None,
    loss: Annotated[
        list[str] | None, typer.Option(help="Loss component; repeat for a weighted sum.")
    ] = None,
    dataset_format: Annotated[str | None, typer.Option(help="Dataset format.")] = None,
    num_classes: Annotated[int | None, typer.Option(help="Number of classes.")] = None,
    image_size: Annotated[int | None, typer.Option(help="Training image size.")] = None,
    pretrained: Annotated[bool | None, typer.Option(help="Use pretrained weights.")] = None,
    accelerator: Annotated[str | None, typer.Option(help="auto, cpu or gpu.")] = None,
    devices: Annotated[str | None, typer.Option(help="auto, a count, or a list.")] = None,
    precision: Annotated[
        str | None, typer.Option(help="auto, 32-true, 16-mixed or bf16-mixed.")
    ] = None,
    unfreeze_epoch: Annotated[
        int | None, typer.Option(help="Epoch at which the backbone unfreezes; 0 = never frozen.")
    ] = None,
    callback: Annotated[
        list[str] | None, typer.Option(help="Extra callback component (ema, onnx_export).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="One-line project description.")] = None,
    answers: Annotated[
        Path | None, typer.Option("--answers", help="Replay a saved answers file (YAML/JSON).")
    ] = None,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where the project folder goes.")
    ] = Path("."),
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Accept the defaults for every question not given.")
    ] = False,
) -> None:
    """Create a new project. Asks what flags leave open, unless --yes or without a terminal."""
    from pydantic import ValidationError

    from .answers import Choices, describe_validation_error, package_name, read_answers_file
    from .new import create_project

    flags = {
        "task": task, "backbone": backbone, "neck": neck, "pooling": pooling, "head": head,
        "losses": loss, "dataset_format": dataset_format, "num_classes": num_classes,
        "image_size": image_size, "pretrained": pretrained, "accelerator": accelerator,
        "devices": devices, "precision": precision, "unfreeze_epoch": unfreeze_epoch,
        "callbacks": callback, "description": description,
    }
    try:
        saved = read_answers_file(answers).model_dump(exclude_none=True) if answers else {}
        given = Choices.model_validate(saved | {k: v for k, v in flags.items() if v is not None})
        interactive = not yes and sys.stdin.isatty()
        project = create_project(
            name, given, output_dir=output_dir, ask=_prompt if interactive else None
        )
    except ValidationError as error:
        raise _fail(OkgenError(describe_validation_error(error))) from None
    except OkgenError as error:
        raise _fail(error) from None
    package = package_name(name)
    typer.echo(f"Created {project}")
    typer.echo(
        f"Next: cd {project} && pip install -e . && python -m {package} sample-data "
        f"&& python -m {package} train"
    )


@app.command("list")
def list_components(
    kind: Annotated[str | None, typer.Argument(help="Only this kind, e.g. heads.")] = None,
) -> None:
    """The catalogue: each component's name, summary, tasks and extra packages."""
    from .catalogue import KINDS, load_catalogue
    from .errors import UnknownComponentError

    catalogue = load_catalogue()
    kinds = KINDS
    if kind is not None:
        plural = kind if kind in KINDS else f"{kind}s"
        if plural not in KINDS:
            raise _fail(UnknownComponentError("kind", kind, KINDS))
        kinds = (plural,)
    for each in kinds:
        typer.secho(each, bold=True)
        for component in catalogue.components[each].values():
            tasks = ", ".join(component.tasks) or "all (core)"
            extra = f"  [{', '.join(component.requires)}]" if component.requires else ""
            typer.echo(f"  {component.name:<18} {component.summary}  ({tasks}){extra}")
        if each == "backbones":
            typer.echo("  timm models okgen tests: " + ", ".join(catalogue.backbone_models))
