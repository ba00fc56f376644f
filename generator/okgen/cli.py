"""The ``okgen`` command line: thin Typer commands over the library functions."""

from __future__ import annotations

import inspect
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from . import __version__
from .errors import IncompatibleChoiceError, OkgenError
from .questions import OUTPUT, QUESTIONS, Question

if TYPE_CHECKING:
    from rich.table import Table

    from .answers import Choices
    from .catalogue import Catalogue
    from .merge import MergeResult
    from .new import Created

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


def _option(question: Question) -> inspect.Parameter:
    """``--<option>`` of ``okgen new`` for one question, with the choices its type fixes."""
    value_type = question.type
    if question.literal:
        value_type = str
    elif isinstance(value_type, UnionType):
        value_type = next(t for t in get_args(value_type) if t is not type(None))
    text = f"{question.text}: {', '.join(question.literal)}." if question.literal else question.text
    if question.kind:
        text += f"; `okgen list {question.kind}` shows them."
    if question.many:
        text += " Repeat for several."
    return inspect.Parameter(
        question.param,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            value_type | None, typer.Option(help=text, rich_help_panel=question.panel)
        ],
    )


def _asks_the_questions(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` one option per question, in place of its ``**flags``.

    Typer reads a command's options from its signature, so the signature is
    rebuilt: the command's own parameters, with the question options after NAME.
    """
    name, *rest = [
        p
        for p in inspect.signature(command, eval_str=True).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    parameters = [name, *map(_option, QUESTIONS), *rest]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


@app.command()
@_asks_the_questions
def new(
    name: Annotated[
        str, typer.Argument(help="Project name; 'my-project' gives package my_project.")
    ],
    *,
    answers: Annotated[
        Path | None, typer.Option("--answers", help="Replay a saved answers file (YAML/JSON).")
    ] = None,
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir", "-o", help="Where the project folder goes.", rich_help_panel=OUTPUT
        ),
    ] = Path("."),
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Accept the defaults for every question not given.")
    ] = False,
    **flags: Any,
) -> None:
    """Create a new project. Asks what flags leave open, unless --yes or without a terminal."""
    from pydantic import ValidationError

    from .answers import Choices, describe_validation_error, read_answers_file
    from .new import create_project

    given = {question.key: flags[question.param] for question in QUESTIONS}
    try:
        saved = read_answers_file(answers).model_dump(exclude_none=True) if answers else {}
        choices = Choices.model_validate(saved | {k: v for k, v in given.items() if v is not None})
        if yes or not sys.stdin.isatty():
            created = create_project(name, choices, output_dir=output_dir, ask=None)
        else:
            created = _create_interactively(name, choices, output_dir)
    except ValidationError as error:
        raise _fail(OkgenError(describe_validation_error(error))) from None
    except OkgenError as error:
        raise _fail(error) from None
    _notes(created.notes)
    _created(created.root, output_dir / name)


def _create_interactively(name: str, choices: Choices, output_dir: Path) -> Created:
    """``create_project`` with questionary prompts and a confirmation before writing."""
    from .catalogue import load_catalogue
    from .new import create_project
    from .prompts import Prompter, confirm_answers

    catalogue = load_catalogue()
    target = output_dir / name
    prompter = Prompter(catalogue)
    while True:
        try:
            return create_project(
                name,
                choices,
                output_dir=output_dir,
                ask=prompter,
                confirm=lambda answers: confirm_answers(catalogue, answers, target),
            )
        except KeyboardInterrupt:
            typer.secho("cancelled: nothing was written", fg=typer.colors.RED, err=True)
            raise typer.Exit(130) from None
        except IncompatibleChoiceError as error:
            if not prompter.again():  # the same answers again: they will not fit this time
                raise
            typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
            typer.secho("Answer again; your answers are the defaults.", err=True)


def _created(root: Path, typed: Path) -> None:
    """What was vendored, by kind, and the commands that come next, ready to paste."""
    from .catalogue import KINDS
    from .manifest import read_manifest

    manifest = read_manifest(root)
    package = manifest.package_name
    typer.secho(f"Created {root}", fg=typer.colors.GREEN, bold=True)
    typer.echo(f"Vendored into src/{package}/components/ (edit them freely):")
    for kind in KINDS:
        names = [key.split("/")[1] for key in manifest.components if key.split("/")[0] == kind]
        if names:
            typer.echo(f"  {kind:<11} {', '.join(names)}")
    typer.echo("Next:")
    commands = [f"cd {shlex.quote(str(typed))}", 'pip install -e ".[dev]"']
    commands += [f"python -m {package} {verb}" for verb in ("sample-data", "train", "test")]
    typer.echo("\n".join(f"  {command}" for command in commands))


@app.command("list")
def list_components(
    kind: Annotated[str | None, typer.Argument(help="Only this kind, e.g. heads.")] = None,
) -> None:
    """The catalogue: each component's name, summary, tasks and extra packages."""
    from rich.console import Console

    from .catalogue import KINDS, load_catalogue, resolve_kind

    catalogue = load_catalogue()
    try:
        kinds = KINDS if kind is None else (resolve_kind(kind),)
    except OkgenError as error:
        raise _fail(error) from None
    console = Console()
    if console.is_terminal:
        for each in kinds:
            console.print(_kind_table(catalogue, each, expand=True))
        return
    # Piped: one line per component, never wrapped, coloured or padded with trailing blanks.
    console = Console(width=1000, no_color=True, highlight=False)
    with console.capture() as captured:
        for each in kinds:
            console.print(_kind_table(catalogue, each, expand=False))
    typer.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def _kind_table(catalogue: Catalogue, kind: str, *, expand: bool) -> Table:
    """One kind's components; ``expand``: fill the terminal, the summary taking the most."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=kind, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, expand=expand
    )
    table.add_column("name", style="cyan", no_wrap=True)
    table.add_column("summary", ratio=4)
    table.add_column("tasks", ratio=2)
    table.add_column("extra packages", style="dim", ratio=1)
    for component in catalogue.components[kind].values():
        tasks = "every project" if component.core else ", ".join(component.tasks)
        table.add_row(  # Text, not markup: brackets in a summary stay text
            *map(Text, (component.name, component.summary, tasks, ", ".join(component.requires)))
        )
    if kind == "backbones":
        for name, model in catalogue.backbone_models.items():
            table.add_row(Text(f"  {name}"), Text(f"{model.summary} ({model.family})"), "", "")
        table.caption = (
            "Tested: okgen's default test suite builds each model above and runs every task's\n"
            "model through it, forward and backward. Any other timm model name works too:\n"
            "652 of the 663 timm 1.0.31 models under 30M parameters pass the registry sweep\n"
            "(benchmarks/TIMM_SWEEP.md). Check one in seconds on CPU, inside a project:\n"
            "  python -m <package> check-model model.backbone.name=NAME data.image_size=SIZE"
        )
        table.caption_justify = "left"
    return table


NameArgument = Annotated[str, typer.Argument(help="Component name, as `okgen list` shows it.")]
ProjectOption = Annotated[
    Path, typer.Option("--project", "-C", help="A folder inside the project (default: here).")
]
TaskOption = Annotated[
    str | None,
    typer.Option(help="The task a component of another task brings (default: the first it suits)."),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="List what would change per file; write nothing.")
]
DiffOption = Annotated[
    bool, typer.Option("--diff", help="Show unified diffs of what would change; write nothing.")
]


@app.command()
def add(
    kind: Annotated[str, typer.Argument(help="head, neck, backbone, pooling, loss, metric, ...")],
    name: NameArgument,
    *,
    task: TaskOption = None,
    dry_run: DryRunOption = False,
    diff: DiffOption = False,
    project: ProjectOption = Path("."),
) -> None:
    """Vendor a component into this project, merging with your edits."""
    _add(kind, name, task=task, dry_run=dry_run, diff=diff, project=project)


def _add_command(kind: str) -> None:
    def command(
        name: NameArgument,
        *,
        task: TaskOption = None,
        dry_run: DryRunOption = False,
        diff: DiffOption = False,
        project: ProjectOption = Path("."),
    ) -> None:
        _add(kind, name, task=task, dry_run=dry_run, diff=diff, project=project)

    app.command(f"add-{kind}", help=f"Same as `okgen add {kind} NAME`.")(command)


for _kind in ("head", "neck", "backbone", "pooling", "loss", "metric", "dataset", "callback"):
    _add_command(_kind)


def _add(
    kind: str, name: str, *, task: str | None, dry_run: bool, diff: bool, project: Path
) -> None:
    from .add import add_component
    from .catalogue import SINGULAR

    preview = dry_run or diff
    try:
        added = add_component(project, kind, name, task=task, dry_run=preview)
    except OkgenError as error:
        raise _fail(error) from None
    _notes(added.notes)
    what = f"{SINGULAR[added.component.kind]} {added.component.name!r}"
    if added.already:
        typer.echo(f"The project already has {what}; nothing to do.")
    else:
        with_task = f", with task {added.new_task!r}" if added.new_task else ""
        verb = "Would add" if preview else "Added"
        typer.echo(f"{verb} {what}{with_task}{' (nothing written)' if preview else ''}:")
        _changes(added.result, diff=diff)
    package = added.project.manifest.package_name
    if added.new_task:
        typer.echo(f"{added.config} uses it:")
        typer.echo(f"  python -m {package} sample-data -c {added.config}")
        typer.echo(f"  python -m {package} train -c {added.config}")
    elif added.snippet:
        typer.echo(f"Select it in {added.config}:")
        typer.echo("\n".join(f"  {line}" for line in added.snippet.splitlines()))
    if added.result is not None and not preview:
        _raise_for_conflicts(added.result)


@app.command()
def update(
    *, dry_run: DryRunOption = False, diff: DiffOption = False, project: ProjectOption = Path(".")
) -> None:
    """Re-render this project with the installed okgen, merging with your edits."""
    from .update import update_project

    preview = dry_run or diff
    try:
        updated = update_project(project, dry_run=preview)
    except OkgenError as error:
        raise _fail(error) from None
    _notes(updated.project.notes)
    verb = "Would update" if preview else "Updated"
    before, after = updated.old_version, updated.new_version
    versions = f"from okgen {before} to {after}" if before != after else f"with okgen {after}"
    typer.echo(f"{verb} {versions}:")
    _changes(updated.result, diff=diff)
    if not preview:
        _raise_for_conflicts(updated.result)


@app.command("diff")
def diff_edits(*, project: ProjectOption = Path(".")) -> None:
    """Your edits: a unified diff of each file against what okgen wrote."""
    from .merge import DELETED, unified_diff, user_edits
    from .project import open_project

    try:
        opened = open_project(project)
    except OkgenError as error:
        raise _fail(error) from None
    _notes(opened.notes)
    edits = user_edits(opened.root, opened.manifest)
    for edit in edits:
        if edit.status == DELETED:
            typer.echo(f"deleted: {edit.path}")
        else:
            diff = unified_diff(edit.path, edit.before, edit.after, ("okgen", "yours"))
            typer.echo(diff, nl=False)
    if not edits:
        typer.echo("No edits: every file is as okgen wrote it.")


@app.command("repair-base")
def repair_base(
    *,
    accept_current: Annotated[
        bool,
        typer.Option(help="Take your current file as the base where okgen cannot rebuild it."),
    ] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Rebuild a missing or damaged merge base (.okgen/objects) from the manifest."""
    from .project import repair_base as repair

    try:
        repaired = repair(project, accept_current=accept_current)
    except OkgenError as error:
        raise _fail(error) from None
    _notes(repaired.project.notes)
    for path in repaired.rendered:
        typer.echo(f"  rebuilt         {path}")
    for path in repaired.adopted:
        typer.echo(f"  yours as base   {path}")
    typer.echo(f"The merge base is complete ({len(repaired.rendered + repaired.adopted)} rebuilt).")


def _changes(result: MergeResult, *, diff: bool) -> None:
    """One line per changed file (or its diff), then the counts."""
    from .merge import LABELS, unified_diff

    for change in result.reported:
        if diff and change.touches_disk:
            labels = ("current", "new")
            typer.echo(unified_diff(change.path, change.before, change.after, labels), nl=False)
        else:
            typer.echo(f"  {LABELS[change.status]:<15} {change.path}")
    typer.echo(f"  ({result.summary() or 'no file changes'})")


def _notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)


def _raise_for_conflicts(result: MergeResult) -> None:
    try:
        result.raise_for_conflicts()
    except OkgenError as error:
        raise _fail(error) from None
