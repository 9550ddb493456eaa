"""Fuzz: mutated experiment files are refused with one line before training, or are valid grids.

Hypothesis mutates valid experiment files: wrong types, missing and extra keys, out-of-range
numbers, odd names, broken YAML, and their claims (sides that select nothing or the same cells,
unknown and unmeasurable metrics, odd margins and profiles). Each file goes through everything `ablate run` checks before the
first cell trains (load_experiment, then grid_checks.preflight), in-process, and the outcome must
be a one-line UserError or a valid grid: never another exception, never a folder in the results root.
"""

from __future__ import annotations

import collections
import copy
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ablate.errors import UserError
from ablate.experiment import load_experiment
from ablate.grid_checks import preflight

BASES = [
    {
        "description": "tiny residual vs plain",
        "analysis": "degradation",
        "default_profile": "quick",
        "base": {
            "model.name": "cifar_resnet",
            "model.width": 4,
            "model.depth": 8,
            "model.shortcut": "A",
            "data": {"name": "digits", "batch_size": 32, "val_size": 0.1, "augment": "crop", "pad": 1},
            "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1.0e-4},
            "schedule": {"name": "multistep", "milestones": [30], "gamma": 0.1},
            "train": {"max_steps": 40, "log_every": 2, "eval_every": 10, "checkpoint_every": 10},
        },
        "arms": {
            "plain-8": {"model.shortcut": "none"},
            "residual-8": {"model.shortcut": "A"},
            "residual-14": {"model.depth": 14},
        },
        "seeds": [0, 1],
        "profiles": {
            "quick": {
                "only_arms": ["plain-8", "residual-8"],
                "seeds": [0],
                "arms": {"plain-8": {"schedule": {"warmup_steps": 5}}},
            },
            "other": {"set": {"train.max_steps": 20, "schedule.milestones": [10]}},
        },
        "claims": [
            {
                "id": "residual-helps",
                "metric": "final_train_error",
                "a": "residual-8",
                "b": "plain-8",
                "expect": "less",
            },
            {
                "id": "depth-slows",
                "metric": {"first_step": "train/error", "at_most": 0.5},
                "a": {"model.depth": 14},
                "b": {"model.depth": 8, "model.shortcut": "A"},
                "expect": "greater",
                "profiles": ["other"],
            },
        ],
    },
    {
        "description": "mlp with and without batch norm",
        "base": {
            "model.name": "bn_mlp",
            "model.input_size": 8,
            "data": {"name": "digits", "batch_size": 60, "val_size": 100},
            "optim": {"name": "adamw", "lr": 0.01, "betas": [0.9, 0.99]},
            "schedule": {"name": "cosine", "warmup_steps": 4, "min_lr": 0.0},
            "train": {"max_steps": 30, "label_smoothing": 0.1, "grad_clip": 1.0},
        },
        "arms": {"mlp": {}, "mlp-bn": {"model.norm": "batch"}},
        "profiles": {"quick": {}},
    },
]

KNOWN_KEYS = [
    "model.name",
    "model.width",
    "model.depth",
    "model.shortcut",
    "model.activation",
    "model.norm",
    "model.input_size",
    "model.hidden",
    "data.name",
    "data.batch_size",
    "data.val_size",
    "data.augment",
    "data.pad",
    "data.train_subset",
    "optim.name",
    "optim.lr",
    "optim.momentum",
    "optim.weight_decay",
    "optim.betas",
    "optim.nesterov",
    "schedule.name",
    "schedule.milestones",
    "schedule.gamma",
    "schedule.warmup_steps",
    "schedule.warmup",
    "schedule.warmup_lr",
    "schedule.min_lr",
    "train.max_steps",
    "train.log_every",
    "train.eval_every",
    "train.checkpoint_every",
    "train.precision",
    "train.grad_clip",
    "train.label_smoothing",
    "seed",
    "model",
    "data",
    "optim.lrr",
]
ARM_NAMES = ["plain-8", "residual-8", "residual-14", "mlp", "mlp-bn", "armz", ""]
SELECTOR_KEYS = ["model.depth", "model.shortcut", "model.width", "model.norm", "optim.lr", "train.max_steps", "seed"]
CLAIM_VALUES = {
    "metric": st.sampled_from(
        [
            "final_train_error",
            "final_test_accuracy",
            "final_train_error_running",
            "late_train_error_change",
            "params",
            "nope",
            {"first_step": "train/error", "at_most": 0.3},
            {"first_step": "val/error", "at_least": 0.2, "unit": "epochs"},
            {"first_step": "test/error", "at_most": 2},
        ]
    ),
    "expect": st.sampled_from(["less", "greater", "equal", "differ", "ratio_at_least", "sideways"]),
    "by": st.sampled_from([0.0, 0.01, -1, "x"]),
    "profiles": st.sampled_from([["quick"], ["other"], ["quick", "other"], ["nope"], [], "quick"]),
}
ODD_NAMES = ["a;rm -rf x$(id)", "../up", "a/b", ".hidden", "-dash", "", "sp ace", "ünï", "ok-name", "x" * 300]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, 1, 6, 8, 13, 20, 64, 5000, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.1, 0.5, 1.0, 1.5, 1e-9, 1e9]),
    st.sampled_from(
        [
            "",
            "tuned",
            "A",
            "B",
            "C",
            "none",
            "relu7",
            "batch",
            "digits",
            "imagenet",
            "sgd",
            "cosine",
            "fast",
            "1e-3",
            "cifar_resnet",
            "resnet9000",
            "lecun",
        ]
    ),
    st.text(max_size=8),
)
values = st.one_of(
    scalars, st.lists(scalars, max_size=3), st.dictionaries(st.sampled_from(["a", "lr", "name"]), scalars, max_size=2)
)


def _mappings(spec: dict) -> list[tuple[str, dict]]:
    """Every mapping in the spec, with a path for the mutation's record."""
    out, stack = [], [("", spec)]
    while stack:
        where, node = stack.pop()
        out.append((where, node))
        stack += [(f"{where}.{k}", v) for k, v in node.items() if isinstance(v, dict)]
    return out


def _config_layers(spec: dict) -> list[dict]:
    """The mappings that hold config keys: base, each arm, each profile's `set` and arms."""

    def values(d):
        return list(d.values()) if isinstance(d, dict) else []

    layers = [spec.get("base"), *values(spec.get("arms"))]
    for prof in values(spec.get("profiles")):
        if isinstance(prof, dict):
            layers += [prof.get("set"), *values(prof.get("arms"))]
    return [m for m in layers if isinstance(m, dict)]


@st.composite
def sides(draw, other):
    """A claim side: an arm name (real or not), a selector on config keys, or the other side again."""
    kind = draw(st.sampled_from(["arm", "selector", "selector", "same"]))
    if kind == "arm":
        return draw(st.sampled_from(ARM_NAMES))
    if kind == "same":
        return copy.deepcopy(other)
    keys = draw(st.lists(st.sampled_from(SELECTOR_KEYS), min_size=1, max_size=2, unique=True))
    known = st.sampled_from([8, 14, 4, "A", "none", "batch", 0.1, 0.5, 12, 40, 20, 0, 1])
    return {k: draw(st.one_of(known, scalars)) for k in keys}


def mutate_claim(draw, spec: dict) -> None:
    """Change one key of one claim (the file's claims, or a new list of one when it has none)."""
    claims = spec.get("claims")
    if not isinstance(claims, list) or not claims or not isinstance(claims[0], dict):
        arms = list(spec["arms"]) if isinstance(spec.get("arms"), dict) and spec["arms"] else ["a"]
        new = {"id": "c", "metric": "final_train_error", "a": arms[0], "b": arms[-1], "expect": "less"}
        claims = spec["claims"] = [new]
    c = draw(st.sampled_from(claims))
    key = draw(st.sampled_from(["a", "b", "a", "b", "metric", "expect", "by", "profiles"]))
    if key in ("a", "b"):
        c[key] = draw(sides(c.get("b" if key == "a" else "a")))
    else:
        c[key] = draw(CLAIM_VALUES[key])


@st.composite
def mutated_files(draw) -> tuple[str, str]:
    """(file name, file text)."""
    spec = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        ops = ["set", "set_known", "set_known", "delete", "extra", "rename", "range", "range", "claim", "claim"]
        op = draw(st.sampled_from(ops))
        if op == "claim":
            mutate_claim(draw, spec)
            continue
        layers = _config_layers(spec)
        if op in ("set_known", "range") and layers:
            node = draw(st.sampled_from(layers))
        else:
            where, node = draw(st.sampled_from(_mappings(spec)))
        if op == "set" and node:
            node[draw(st.sampled_from(sorted(node, key=str)))] = draw(values)
        elif op == "set_known" or (op == "set" and not node):
            node[draw(st.sampled_from(KNOWN_KEYS))] = draw(values)
        elif op == "delete" and node:
            del node[draw(st.sampled_from(sorted(node, key=str)))]
        elif op == "extra":
            node[draw(st.sampled_from(["extra", "armz", "model.colour", "train.max_step", "seeds", 7]))] = draw(values)
        elif op == "rename" and node:
            old = draw(st.sampled_from(sorted(node, key=str)))
            node[draw(st.sampled_from(ODD_NAMES))] = node.pop(old)
        elif op == "range" and draw(st.booleans()):
            key = draw(st.sampled_from(KNOWN_KEYS[8:35]))
            node[key] = draw(st.sampled_from([-1, 0, -0.5, 1, 2.5, 10**6, float("nan"), float("inf"), [0], [99]]))
        elif op == "range":  # values that pass each key's own check but break a constructor or the data
            key, value = draw(
                st.sampled_from(
                    [
                        ("model.depth", 9),
                        ("model.depth", 2),
                        ("model.width", 0),
                        ("model.shortcut", "C"),
                        ("data.batch_size", 2000),
                        ("data.val_size", 1700),
                        ("data.train_subset", 50000),
                        ("model.input_size", 3),
                        ("model.norm", "group"),
                    ]
                )
            )
            node[key] = value
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    if draw(st.integers(0, 9)) == 0:  # broken YAML: a stray character, a bad indent, a cut
        pos = draw(st.integers(0, len(text)))
        text = (
            text[:pos]
            + draw(st.sampled_from([":", "[", "{", "\t", "  - ", '"', "&", "*x", "\n  bad", ""]))
            + text[pos:]
        )
    name = draw(st.sampled_from(["exp"] * 12 + ["grid_2.v1+x", "a;b", "-x", ".x"]))
    return name, text


CLASSES = [  # (outcome class, pattern of the message)
    ("unjudgeable claim", r"selects? no cell|select the same|never select|will never have"),
    ("yaml syntax", r":\d+:\d+: "),
    ("name rule", r"name .* is not allowed"),
    ("model constructor", r"cannot be built"),
    ("data size", r"training images|training split"),
    ("unknown key", r"unknown (key|section)"),
    ("wrong type", r"must be|may not be null|is not a config key"),
    ("not a choice", r"is not one of|unknown (dataset|model|arm|profile)|is not a profile"),
    ("out of range", r"out of range|allowed:|leaves no step"),
    ("required key", r"is required"),
    ("seeds", r"seeds"),
    ("tuned value", r"tun"),
    ("other one-line error", r""),
]


def outcome_of(name: str, text: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text)
        root = Path(tmp) / "results"
        try:
            exp = load_experiment(str(path), results_root=root)
            preflight(exp, root)
        except UserError as e:
            msg = _LAST_MESSAGE[0] = str(e)
            assert "\n" not in msg and msg.strip(), repr(msg)
            assert "Traceback" not in msg
            klass = next(k for k, pattern in CLASSES if re.search(pattern, msg))
            return f"error: {klass}"
        finally:
            made = list(root.rglob("*")) if root.exists() else []
            assert not made, f"pre-training checks left {made}"
        assert exp.cells and len({c.run_id for c in exp.cells}) == len(exp.cells)
        _LAST_MESSAGE[0] = f"{len(exp.cells)} cells"
        return "valid grid"


_LAST_MESSAGE = [""]


def test_fuzzed_experiment_files_give_one_line_errors_or_valid_grids():
    seen: collections.Counter = collections.Counter()
    examples: dict[str, str] = {}

    @settings(max_examples=500, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(mutated_files())
    def check(file):
        outcome = outcome_of(*file)
        seen[outcome] += 1
        examples.setdefault(outcome, _LAST_MESSAGE[0])

    check()
    total = sum(seen.values())
    print(f"\n{total} generated experiment files:")
    for outcome, n in seen.most_common():
        print(f"  {n:4d}  {outcome}   e.g. {examples[outcome][:160]}")
    assert total >= 500
    assert seen["valid grid"] > 0 and len(seen) >= 6  # the mutations reach both sides and many rules
    assert seen["error: unjudgeable claim"] > 0  # and claims that no run could judge
