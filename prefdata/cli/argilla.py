"""`prefdata argilla {serve,stop,push,pull}`: human annotation rounds in Argilla.

    prefdata argilla serve --port 6900               # local server; prints URL, user, password, API key
    prefdata argilla push runs/hh --dataset hh-round-1 --set argilla.min_submitted=2
    prefdata argilla push runs/hh --budget 0.2 --select margin   # the 20% of prompts the judges are least sure of
    prefdata argilla pull runs/hh --dataset hh-round-1
    prefdata argilla stop

With a real Argilla deployment (Docker, HF Space) skip serve/stop and set ARGILLA_API_URL /
ARGILLA_API_KEY (or pass --api-url). There is no --api-key option on purpose: a command line
is visible to every user of the machine (`ps`), the environment is not. push/pull read the
`argilla:` section of the run's recipe (RUN_DIR/recipe.resolved.yaml, or --recipe FILE); see
prefdata/argilla/settings.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prefdata.cli._app import SetOption, app

argilla_app = typer.Typer(help="Human annotation in Argilla: serve a local server, push candidates, pull labels.",
                          no_args_is_help=True)
app.add_typer(argilla_app, name="argilla")

HomeOption = Annotated[Optional[Path], typer.Option("--home", help="Server state folder (default ~/.cache/prefdata/argilla).")]
ApiUrlOption = Annotated[Optional[str], typer.Option("--api-url", help="Argilla URL (default: $ARGILLA_API_URL, else the local server).")]
DatasetOption = Annotated[Optional[str], typer.Option("--dataset", help="Dataset name (default: argilla.dataset in the recipe).")]
RecipeOption = Annotated[Optional[Path], typer.Option("--recipe", help="Recipe with an `argilla:` section (default: RUN_DIR/recipe.resolved.yaml).")]
# The argilla keys each command reads (None: all of them); other --set keys are reported as unused.
PUSH_KEYS = None
PULL_KEYS = frozenset({"dataset", "workspace", "suggestions_from"})


@argilla_app.command()
def serve(
    port: Annotated[int, typer.Option("--port", help="Port of the web UI and API.")] = 6900,
    home: HomeOption = None,
    venv: Annotated[Optional[Path], typer.Option("--venv", help="Server virtualenv (created on first use).")] = None,
) -> None:
    """Start argilla-server 2.8 + Redis + worker with an SQLite search engine; print URL and credentials."""
    import time

    from rich.console import Console

    from prefdata.argilla import server

    console = Console(stderr=True)
    started = time.monotonic()
    info = server.serve(port=port, home=home or server.DEFAULT_HOME, venv=venv or server.DEFAULT_VENV,
                        log=console.print)
    console.print(f"Argilla is ready at [bold]{info.api_url}[/] ({time.monotonic() - started:.1f} s)")
    # The one place the key is shown; it is stored only in HOME/credentials.json (mode 0600).
    print(f"URL:      {info.api_url}\nusername: {info.username}\npassword: {info.password}\nAPI key:  {info.api_key}")
    print(f"export ARGILLA_API_URL={info.api_url} ARGILLA_API_KEY={info.api_key}")
    console.print(f"stop it with: prefdata argilla stop --home {info.home}")


@argilla_app.command()
def stop(home: HomeOption = None) -> None:
    """Stop the server, worker and Redis started by `serve` from HOME."""
    from rich.console import Console

    from prefdata.argilla import server

    console = Console(stderr=True)  # stale pids are reported, never signalled
    stopped = server.stop(home or server.DEFAULT_HOME, log=lambda line: console.print(line, markup=False))
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def unused_overrides(overrides: list[str], used: frozenset[str] | None) -> list[str]:
    """--set keys the command does not read: outside `argilla.`, or argilla keys it has no use for."""
    unused = []
    for item in overrides:
        key = item.partition("=")[0]
        section, _, name = key.partition(".")
        if section != "argilla" or (used is not None and name.split(".")[0] not in used):
            unused.append(key)
    return unused


def _config(run_dir: Path, recipe: Path | None, overrides: list[str], command: str, used: frozenset[str] | None):
    """The recipe's `argilla:` section with --set applied; unused --set keys are reported on one line."""
    import sys

    from prefdata.argilla.settings import ArgillaConfig
    from prefdata.config import apply_overrides, read_yaml, validate

    source = recipe or run_dir / "recipe.resolved.yaml"
    data = read_yaml(source) if (recipe or source.is_file()) else {}
    data = apply_overrides({"argilla": data.get("argilla") or {}}, overrides)
    config = validate(ArgillaConfig, data["argilla"], f"{source} (argilla section)")
    unused = unused_overrides(overrides, used)
    if unused:  # validated first: a misspelt argilla key is an error, not a warning
        print(f"warning: `prefdata argilla {command}` does not use these --set keys, ignored: {', '.join(unused)}",
              file=sys.stderr)
    return config


@argilla_app.command()
def push(
    run_dir: Annotated[Path, typer.Argument(help="Run directory built up to the sample stage.")],
    dataset: DatasetOption = None,
    recipe: RecipeOption = None,
    set_: SetOption = [],
    replace: Annotated[bool, typer.Option(
        "--replace", help="Discard the answers of records whose candidates changed since they were pushed "
        "(without it such a push is refused).")] = False,
    budget: Annotated[Optional[float], typer.Option(
        "--budget", help="Push only this many prompts (or this share of them, below 1): argilla.budget.")] = None,
    select: Annotated[Optional[str], typer.Option(
        "--select", help="How the budget picks prompts: margin | disagreement | swap | implicit_margin | random "
        "(argilla.select; implicit_margin also needs argilla.policy and argilla.reference).")] = None,
    api_url: ApiUrlOption = None,
    home: HomeOption = None,
) -> None:
    """One record per prompt (candidates as fields, judge scores as suggestions); idempotent upsert."""
    from prefdata.argilla.client import connect
    from prefdata.argilla.push import push as run_push

    flags = [f"argilla.{k}={v}" for k, v in (("budget", budget), ("select", select)) if v is not None]
    config = _config(run_dir, recipe, [*set_, *flags], "push", PUSH_KEYS)
    with connect(api_url, None, home) as client:
        report = run_push(run_dir, client, config, dataset=dataset, replace=replace)
    if report["answers_discarded"] or report["records_replaced"]:
        print(f"--replace: discarded {report['answers_discarded']} answers on {report['records_replaced']} records "
              "whose candidates changed")
    if "selection" in report:
        chosen = report["selection"]
        print(f"selected {chosen['selected']} of {chosen['of']} prompts by {chosen['criterion']} "
              f"(RUN_DIR/human/selection.parquet)" + ("; the budget is larger than the prompts: all pushed"
                                                      if chosen["budget_exceeds_prompts"] else ""))
    print(f"pushed {report['records']} records to {report['dataset']!r} at {report['api_url']} "
          f"({report['records_in_dataset']} in the dataset; {report['prompts_without_candidates']} prompts had no candidates)")


@argilla_app.command()
def pull(
    run_dir: Annotated[Path, typer.Argument(help="Run directory the dataset was pushed from.")],
    dataset: DatasetOption = None,
    recipe: RecipeOption = None,
    set_: SetOption = [],
    api_url: ApiUrlOption = None,
    home: HomeOption = None,
) -> None:
    """Submitted answers -> RUN_DIR/human/judgments.parquet, plus annotator agreement."""
    import json

    from prefdata.argilla.client import connect
    from prefdata.argilla.pull import pull as run_pull
    from prefdata.errors import PrefdataError

    config = _config(run_dir, recipe, set_, "pull", PULL_KEYS)
    name = dataset or config.dataset
    if not name:
        raise PrefdataError("no dataset name: pass --dataset NAME or set argilla.dataset in the recipe")
    with connect(api_url, None, home) as client:
        report = run_pull(run_dir, client, name, workspace=config.workspace, suggestions_from=config.suggestions_from)
    print(f"{report['records_kept']} of {report['records']} records had submitted answers "
          f"(responses by status: {report['response_statuses']}; dropped: {report['dropped']})")
    outside = report.get("answers_outside_selection")
    if outside and outside["prompts"]:
        print(f"{outside['prompts']} answered prompts were not in the last push's selection (kept, e.g. "
              f"{', '.join(outside['examples'][:3])})")
    print(json.dumps(report["agreement"], indent=2))
    print(f"judgments: {report['files']['judgments']}")
