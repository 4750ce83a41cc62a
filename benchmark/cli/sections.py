"""A click command whose ``--help`` lists its options in named sections."""

from __future__ import annotations

import click


class SectionedCommand(click.Command):
    """``--help`` prints the options in ``sections`` (title -> parameter names, in order), then any option no
    section names (``--help``) under "Other options".

    click has no option groups of its own, and the click-option-group package would be a dependency for a
    help layout alone: grouping only what ``format_options`` prints needs no more than this subclass. Parsing is
    click's, untouched. A section naming a parameter the command lacks is an error when the command is built.
    """

    def __init__(self, *args, sections: dict[str, tuple[str, ...]], **kwargs):
        super().__init__(*args, **kwargs)
        known = {param.name for param in self.params}
        named = [name for names in sections.values() for name in names]
        unknown = sorted(set(named) - known)
        if unknown:
            raise ValueError(f"help sections of {self.name}: no parameter {', '.join(unknown)}")
        self.sections = sections

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        by_name = {param.name: param for param in self.get_params(ctx)}
        listed: set[str] = set()
        for title, names in [*self.sections.items(), ("Other options", tuple(by_name))]:
            records = [record for name in names if name not in listed
                       for record in [by_name[name].get_help_record(ctx)] if record]
            listed.update(names)
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)
