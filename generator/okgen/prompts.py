"""The interactive ``okgen new``: prompts derived from :data:`okgen.questions.QUESTIONS`.

A question with offers is an arrow-key list showing each offer's catalogue summary
(a checkbox list when it takes several), a yes/no question is a confirmation, and
any other is a text field that re-asks until the declaration's type and ``check``
accept it. Then every answer is shown in one table, and nothing is written unless
the user confirms.

Only ``okgen new`` on a terminal without ``--yes`` imports this module: questionary,
prompt_toolkit and rich take longer to import than the rest of ``okgen new`` takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import questionary
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .answers import Answers
from .catalogue import Catalogue
from .questions import PANELS, QUESTIONS, Question

#: resolve_answers asks by a question's text, which is unique to it.
_BY_TEXT = {question.text: question for question in QUESTIONS}


class Prompter:
    """Asks one question on the terminal; an :data:`okgen.answers.Ask`.

    It remembers the answers of a round of questions: when they do not fit together
    (an :class:`~okgen.errors.IncompatibleChoiceError`), :meth:`again` makes them the
    defaults of the next round. Ctrl-C raises KeyboardInterrupt (``unsafe_ask``).
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.answered: dict[str, Any] = {}  # this round's answers, by question key
        self.previous: dict[str, Any] = {}  # the last round's, the defaults of this one

    def again(self) -> bool:
        """Start a new round with this one's answers as defaults; False if none changed."""
        changed = self.answered != self.previous
        self.previous, self.answered = self.answered, {}
        return changed

    def __call__(self, text: str, offered: list[str] | None, default: Any) -> Any:
        question = _BY_TEXT[text]
        default = self.previous.get(question.key, default)
        self.answered[question.key] = answer = self._ask(question, offered, default)
        return answer

    def _ask(self, question: Question, offered: list[str] | None, default: Any) -> Any:
        text = question.text
        if question.type is bool:
            return questionary.confirm(text, default=default).unsafe_ask()
        if offered is None:
            return self._text(question, default)
        if not offered:  # nothing of that kind fits the task: the default (none) stands
            return default
        choices = self._choices(question, offered, chosen=default if question.many else [])
        if question.many:
            return questionary.checkbox(
                text,
                choices=choices,
                validate=lambda picked: _problem(question, picked) or True,
                instruction="(arrow keys to move, space to toggle, enter to accept)",
            ).unsafe_ask()
        return questionary.select(
            text, choices=choices, default=default if default in offered else None
        ).unsafe_ask()

    def _choices(
        self, question: Question, offered: list[str], chosen: list[str]
    ) -> list[questionary.Choice]:
        """One line per offer: its name, then its summary dimmed, in aligned columns."""
        width = max(map(len, offered))
        return [
            questionary.Choice(
                title=[
                    ("class:text", f"{name:<{width}}"),
                    ("class:instruction", f"  {question.summary(self.catalogue, name)}"),
                ],
                value=name,
                checked=name in chosen,
            )
            for name in offered
        ]

    def _text(self, question: Question, default: Any) -> Any:
        raw = questionary.text(
            question.text,
            default=str(default),
            validate=lambda raw: _problem(question, raw) or True,
        ).unsafe_ask()
        return _convert(question, raw)


def _base_type(question: Question) -> type:
    """``int`` for ``int``, ``str`` for ``str | None``."""
    return next((t for t in get_args(question.type) if t is not type(None)), question.type)


def _convert(question: Question, answer: Any) -> Any:
    """The typed answer, through the declaration's ``check``; ValueError names the problem."""
    if question.many:
        value = list(answer)
    elif _base_type(question) is int:
        try:
            value = int(answer.strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {answer!r}") from None
    else:
        value = answer
    return question.check(value) if question.check is not None else value


def _problem(question: Question, answer: Any) -> str | None:
    """What is wrong with ``answer``, for the prompt to show; None when it is fine."""
    try:
        _convert(question, answer)
    except ValueError as error:
        return str(error)
    return None


def summary_table(catalogue: Catalogue, answers: Answers, target: Path) -> Table:
    """Every answer under its panel, with the catalogue's summary of what it names."""
    table = Table(
        title=f"okgen new {target}", box=box.SIMPLE_HEAD, title_justify="left", expand=True
    )
    table.add_column("question", no_wrap=True)
    table.add_column("answer", overflow="fold", ratio=1)
    table.add_column("what it is", ratio=2)
    for panel in PANELS:
        table.add_row(Text(panel, style="bold"))
        questions = [q for q in QUESTIONS if q.panel == panel]
        for question in questions:
            value = getattr(answers, question.key)
            names = value if question.many else [value]
            about = " ".join(filter(None, (question.summary(catalogue, str(n)) for n in names)))
            table.add_row(  # Text, not markup: an answer's brackets stay text
                "  " + question.key.replace("_", " "),
                Text(_shown(value), style="cyan"),
                Text(about, style="dim"),
                end_section=question is questions[-1],
            )
    return table


def _shown(value: Any) -> str:
    if value is None or value == []:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def confirm_answers(catalogue: Catalogue, answers: Answers, target: Path) -> bool:
    """Show every answer, then ask whether to write the project."""
    Console().print(summary_table(catalogue, answers, target))
    return bool(questionary.confirm(f"Write the project to {target}?", default=True).unsafe_ask())
