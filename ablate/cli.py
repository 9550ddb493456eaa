"""`python -m ablate <command>`: one module per command, dispatched through an explicit table.

Each command module defines HELP, add_arguments(parser) and main(args) -> exit code. Importing a
command module must stay cheap (no torch, no lightning): heavy imports happen inside main().
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ablate.errors import UserError

COMMANDS: dict[str, str] = {
    "list": "ablate.commands.list_experiments",
    "run": "ablate.commands.run",
    "analyze": "ablate.commands.analyze",
    "data": "ablate.commands.data",
    "submit": "ablate.commands.submit",
    "status": "ablate.commands.status",
    "sync": "ablate.commands.sync",
    "census": "ablate.commands.census",
    "tune": "ablate.commands.tune",
    "bench": "ablate.commands.bench",
}
# Old names still accepted: `claims` was the census before "claims" came to mean an experiment's.
ALIASES: dict[str, list[str]] = {"census": ["claims"]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ablate",
        description="Controlled, reproducible ablations of the claims of CNN history.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, aliases=ALIASES.get(name, []), help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.main(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
