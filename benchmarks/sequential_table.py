"""The verdict engine by simulation: the tables of docs/verdicts.md, printed as Markdown.

    .venv/bin/python -m benchmarks.sequential_table            # from the repository root, ~2 minutes on 2 cores
    .venv/bin/python -m benchmarks.sequential_table --sims 500 # a quicker, noisier look

1. Sequential designs with no true difference, every look taken: how often a claim ends HOLDS or
   REFUTED (nominal: at most 2.5% each), against the same looks each tested at a fixed 5% (what
   raising the seeds by hand after an UNRESOLVED verdict amounts to).
2. True effects of 1, 2 and 3 sd: power and mean seeds per arm, the sequential design against the
   fixed design with its maximum; and with no true difference, the seeds it saves by stopping.
3. The spending choice: the last look keeping 75% of α against Lan-DeMets O'Brien-Fleming alone.
   And stopping for futility: what it costs in power and saves in seeds.
4. Small n, fixed designs: false HOLDS under a shape difference and under rare divergence at 3,
   5 and 10 seeds, with how often the verdict is flagged as fragile.

Every number comes from the engine itself (tests/sequential_sim.py calls ablate.verdicts), with
fixed seeds: the same command prints the same tables. The tests assert the same bounds with
fewer simulations (tests/test_sequential.py, tests/test_verdict_engine.py).
"""

from __future__ import annotations

import argparse
import time

from ablate.verdicts import sequential, stats
from tests import sequential_sim as sim

SCHEDULES = [(3, 1, 10), (3, 2, 15), (5, 5, 30)]
EFFECTS = [1.0, 2.0, 3.0]


class FixedLevel(sequential.Schedule):
    """The same looks, each tested at the full α: optional stopping by hand."""

    def alphas(self, alpha: float = stats.ALPHA) -> list[float]:
        return [alpha] * len(self.looks)


class SpendingOnly(sequential.Schedule):
    """Lan-DeMets O'Brien-Fleming spending over the looks, without reserving 75% for the last."""

    def alphas(self, alpha: float = stats.ALPHA) -> list[float]:
        spent = [sequential.spending(n / self.max, alpha) for n in self.looks]
        return [s - prev for s, prev in zip(spent, [0.0] + spent[:-1])]


def markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def null_table(sims: int) -> list[str]:
    c, rows = sim.claim("less"), []
    for sch in SCHEDULES:
        ours = sim.sequential_rates(c, sequential.Schedule(*sch), sim.normal(0.0), sims, seed=1, stop_early=False)
        naive = sim.sequential_rates(c, FixedLevel(*sch), sim.normal(0.0), sims, seed=1, stop_early=False)
        looks = len(sequential.Schedule(*sch).looks)
        rows.append([str(sch), str(looks), f"{ours.holds:.1%}", f"{ours.refuted:.1%}", f"{naive.holds:.1%}"])
    header = ["schedule (start, step, max)", "looks", "false HOLDS", "false REFUTED"]
    return markdown(header + ["same looks at a fixed 5%: false HOLDS"], rows)


def power_table(sims: int) -> list[str]:
    c, rows = sim.claim("less"), []
    for sch in SCHEDULES:
        schedule, fixed = sequential.Schedule(*sch), sequential.Schedule(sch[2], 1, sch[2])
        null = sim.sequential_rates(c, schedule, sim.normal(0.0), sims, seed=2)
        rows.append([str(sch), "0 (none)", f"{null.holds:.1%} held", f"{null.seeds:.1f}", "—"])
        for d in EFFECTS:
            seq = sim.sequential_rates(c, schedule, sim.normal(d), sims, seed=3)
            fix = sim.sequential_rates(c, fixed, sim.normal(d), sims, seed=3)  # the same draws
            rows.append([str(sch), f"{d:g} sd", f"{seq.holds:.1%}", f"{seq.seeds:.1f}", f"{fix.holds:.1%} ({sch[2]})"])
    header = ["schedule", "true effect", "sequential: power", "sequential: mean seeds per arm"]
    return markdown(header + ["fixed (max seeds): power"], rows)


def spending_table(sims: int) -> list[str]:
    c, rows = sim.claim("less"), []
    for sch in SCHEDULES:
        ours, obf = sequential.Schedule(*sch), SpendingOnly(*sch)
        a = sim.sequential_rates(c, ours, sim.normal(1.0), sims, seed=3)  # the power table's draws
        b = sim.sequential_rates(c, obf, sim.normal(1.0), sims, seed=3)
        rows.append(
            [str(sch), f"{ours.alphas()[-1]:.4f}", f"{a.holds:.1%}", f"{obf.alphas()[-1]:.4f}", f"{b.holds:.1%}"]
        )
    header = ["schedule", "last look's α: ours", "power at 1 sd: ours", "α: O'Brien-Fleming alone"]
    return markdown(header + ["power at 1 sd"], rows)


def futility_table(sims: int) -> list[str]:
    c, rows = sim.claim("less"), []
    for sch in SCHEDULES:
        schedule, cells = sequential.Schedule(*sch), []
        for d, seed in ((1.0, 3), (0.0, 2)):  # the power table's draws
            on = sim.sequential_rates(c, schedule, sim.normal(d), sims, seed=seed)
            off = sim.sequential_rates(c, schedule, sim.normal(d), sims, seed=seed, stop_early=False)
            cells += [f"{on.holds:.1%} / {off.holds:.1%}", f"{on.seeds:.1f} / {off.seeds:.1f}"]
        rows.append([str(sch), *cells])
    header = ["schedule", "1 sd: power with / without stopping", "1 sd: mean seeds", "no difference: HOLDS"]
    return markdown(header + ["no difference: mean seeds"], rows)


def small_n_table(sims: int) -> list[str]:
    cases = [
        ("normal, equal sd (the baseline)", sim.normal(0.0)),
        ("a ~ Exp(1) vs b ~ N(1, 0.1), claim a < b", sim.exp_vs_normal),
        ("a diverges 1 in 10, b never; claim a < b", sim.rare_divergence),
    ]
    rows = []
    for name, draw in cases:
        for n in (3, 5, 10):
            r = sim.fixed_rates(sim.claim("less"), n, draw, sims, seed=5)
            rows.append([name, str(n), f"{r.holds:.1%}", f"{r.flagged:.1%}", f"{r.holds_unflagged:.1%}"])
    header = ["case (no true difference in the means)", "seeds per arm", "false HOLDS", "flagged"]
    return markdown(header + ["false HOLDS not flagged"], rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sims", type=int, default=2000, help="simulated experiments per cell of a table")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    for title, table, sims in (
        ("No true difference, every look taken", null_table, 2 * args.sims),
        ("Power and seeds: sequential against fixed", power_table, args.sims // 2),
        ("The spending choice", spending_table, args.sims // 2),
        ("Stopping for futility: with / without", futility_table, args.sims // 2),
        ("Small n, fixed designs", small_n_table, 2 * args.sims),
    ):
        print(f"### {title} ({sims} simulated experiments each)\n")
        print("\n".join(table(sims)) + "\n")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
