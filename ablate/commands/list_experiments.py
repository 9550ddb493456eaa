from ablate.search_path import find_experiment, list_experiments
from ablate.spec import read_spec

HELP = "list the experiments (shipped, ./experiments, $ABLATE_EXPERIMENTS), their profiles and claims"


def add_arguments(p) -> None:
    p.add_argument("--models", action="store_true", help="list the registered models instead")


def main(args) -> int:
    if args.models:
        from ablate.models import list_models

        print("\n".join(list_models()))
        return 0

    for name in list_experiments():
        path = find_experiment(name)
        spec = read_spec(path)
        print(f"{name:<14} profiles: {', '.join(spec['profiles'])}  ({path})")
        claim = " ".join(str(spec.get("claim", "")).split())
        if claim:
            print(f"{'':<14} {claim}")
        claims = [c.get("id", "?") for c in spec.get("claims") or [] if isinstance(c, dict)]
        if claims:
            print(f"{'':<14} claims: {', '.join(claims)}")
    return 0
