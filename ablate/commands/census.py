"""`python -m ablate census`: the seeds' countable statements, measured on our models.

Output: a text table (default), `--json` (an object: `statements`, a list of objects: id, source,
statement, expected, measured, unit, verdict, note, compared (the measured numbers behind the figure,
e.g. both parameter counts of a ratio); and `zoo`, every registered model of the seeds with its
parameters and GMACs at its native input; counts as exact integers, compute in GMACs unless the
statement's unit says otherwise), `--markdown`; `--plot PATH` also saves the zoo figure (ablate/census/zoo.py).
Importing this module is cheap: torch is imported inside main().
"""

from __future__ import annotations

import argparse
import json
import sys

from ablate.census.core import evaluate, fmt
from ablate.errors import UserError

HELP = "measure every countable statement of the seeds on our models (table, --json, --markdown, --plot)"

_FAMILY_SKIP = ("cifar_plain",)  # same counts as the residual twins: left out of the figure


def add_arguments(parser: argparse.ArgumentParser) -> None:
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument(
        "--json", action="store_const", const="json", dest="format", help="print the rows as a JSON list of objects"
    )
    fmt.add_argument(
        "--markdown", "--md", action="store_const", const="md", dest="format", help="print the rows as a Markdown table"
    )
    fmt.add_argument("--format", choices=("table", "json", "md"), dest="format", help="output format (default: table)")
    parser.add_argument(
        "--only", metavar="SUBSTRING", default=None, help="only the statements whose id contains SUBSTRING"
    )
    parser.add_argument(
        "--plot",
        metavar="PATH",
        default=None,
        help="also save the zoo figure (parameters vs compute) to PATH (.png/.pdf)",
    )


def run_claims(only: str | None = None):
    """Evaluate the catalog (or the statements whose id contains `only`) -> list of Rows."""
    from ablate.census.catalog import STATEMENTS

    statements = [c for c in STATEMENTS if only is None or only in c.id]
    return [evaluate(c) for c in statements]


def text_table(rows, width: int = 64) -> str:

    head = ("id", "src", "expected", "measured", "unit", "verdict", "statement")
    body = []
    for r in rows:
        statement = r.statement if len(r.statement) <= width else r.statement[: width - 1] + "…"
        body.append(
            (r.id, r.source[:3], fmt(r.expected, r.unit), fmt(r.measured, r.unit), r.unit, r.verdict, statement)
        )
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
        for line in [head, tuple("-" * w for w in widths), *body]
    ]
    notes = [f"  {r.id}: {r.note}" for r in rows if r.note]
    counts = {v: sum(r.verdict == v for r in rows) for v in ("holds", "approximately", "refuted")}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items())
    sources = sorted({r.source for r in rows})
    return "\n".join(
        [
            *lines,
            "",
            f"{len(rows)} statements: {summary}.",
            "src: " + "; ".join(f"{s[:3]} = {s}" for s in sources),
            "Compute in GMACs (multiply-adds, batch 1, native input) unless the unit says otherwise.",
            "",
            "Notes:",
            *notes,
        ]
    )


def markdown_table(rows) -> str:

    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    out = [
        "| id | source | statement | expected | measured | unit | verdict | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            "| "
            + " | ".join(
                cell(x)
                for x in (
                    r.id,
                    r.source,
                    r.statement,
                    fmt(r.expected, r.unit),
                    fmt(r.measured, r.unit),
                    r.unit,
                    f"**{r.verdict}**" if r.verdict != "holds" else r.verdict,
                    r.note,
                )
            )
            + " |"
        )
    return "\n".join(out)


def zoo_records() -> tuple[list[dict], list[dict]]:
    """Parameters and GMACs of every registered model, and the conv/FC split of
    AlexNet and VGG-16, for ablate/census/zoo.py."""
    from ablate.census.measure import lab_model, params_by_kind, zoo_gmacs, zoo_params, zoo_profile
    from ablate.census.zoo import family_of
    from ablate.models import list_models

    # The zoo of the seeds: not the plain CIFAR twins (same counts as the residual ones), not the
    # general cifar_resnet builder (= cifar_resnet20), not the small ablation nets of other issues.
    names = [
        n for n in list_models() if not n.startswith(_FAMILY_SKIP) and n != "cifar_resnet" and family_of(n) != "other"
    ]
    zoo = [{"model": n, "params": zoo_params(n), "gmacs": zoo_gmacs(n)} for n in names]
    split = []
    for n in ("alexnet", "vgg16"):
        p = params_by_kind(lab_model(n))
        ops = zoo_profile(n)[0]
        conv = ops.get("convolution", 0) / 2e9
        split.append(
            {
                "model": n,
                "conv_params": p["conv"],
                "fc_params": p["fc"],
                "conv_gmacs": conv,
                "fc_gmacs": sum(ops.values()) / 2e9 - conv,
            }
        )
    return zoo, split


def save_plot(path: str) -> None:
    from ablate.census.zoo import split_frame, zoo_figure, zoo_frame

    zoo, split = zoo_records()
    fig = zoo_figure(zoo_frame(zoo), split_frame(split))
    fig.savefig(path, dpi=150)


def main(args: argparse.Namespace) -> int:

    rows = run_claims(args.only)
    if not rows:
        raise UserError(f"no statement id contains {args.only!r}")
    fmt_ = args.format or "table"
    if fmt_ == "json":
        zoo = [] if args.only else zoo_records()[0]
        print(json.dumps({"statements": [r.as_json() for r in rows], "zoo": zoo}, indent=2, ensure_ascii=False))
    elif fmt_ == "md":
        print(markdown_table(rows))
    else:
        print(text_table(rows))
    if args.plot:
        try:
            save_plot(args.plot)
        except (OSError, ValueError) as e:  # unwritable path, unknown extension
            raise UserError(f"cannot save the plot to {args.plot}: {e}") from None
        print(f"saved the zoo figure to {args.plot}", file=sys.stderr)
    return 0
