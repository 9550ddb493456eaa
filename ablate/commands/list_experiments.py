HELP = "list the experiments, their profiles and the claim each one tests"


def add_arguments(p) -> None:
    p.add_argument("--models", action="store_true", help="list the registered models instead")


def main(args) -> int:
    if args.models:
        from ablate.models import list_models

        print("\n".join(list_models()))
        return 0
    from ablate.experiment import find_experiment, list_experiments, read_spec

    for name in list_experiments():
        spec = read_spec(find_experiment(name))
        profiles = ", ".join(spec["profiles"])
        print(f"{name:<14} profiles: {profiles}")
        claim = " ".join(str(spec.get("claim", "")).split())
        if claim:
            print(f"{'':<14} {claim}")
    return 0
