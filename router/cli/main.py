"""The `banditroute` command: its global options, logging and exit codes. Its commands are in this
package's modules (serving, decisions, admin, reports, advice, security); the simulator adds the demo and the
benchmarks (simulator/commands.py)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib.metadata import entry_points

from router.cli import admin, advice, decisions, reports, security, serving
from router.cli.remote import export_tls_options

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Loading MiniLM drew a "Loading weights" bar on stderr at every start: stderr is the server's log, and
# a refusal to start is one line there.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# The commands draw plots into files only; a notebook importing the same modules keeps its own backend.
os.environ.setdefault("MPLBACKEND", "Agg")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.api_key:
        os.environ["BANDITROUTE_API_KEY"] = args.api_key  # where every client of this process looks
    export_tls_options(args)
    configure_logging(args.log_level, args.log_format)
    from router.config.check import ConfigError
    from router.domain.errors import CannotStart

    try:
        return args.run(args) or 0
    except ConfigError as exc:
        if exc.whole_file:  # not a config at all: one line says which file and why, as for a damaged data file
            print(f"banditroute: {exc.path} {exc.problems[0]}", file=sys.stderr)
            return 2
        where = exc.path or "the options given"  # no config file: the problem is in serve's own options
        print(f"{where}: the configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        print("\n".join(f"  {problem}" for problem in exc.problems), file=sys.stderr)
        return 2
    except CannotStart as exc:
        print(f"banditroute: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name not in BENCH_MODULES:
            raise
        # A server-only install leaves the benchmarks' libraries out: say which extra brings them.
        print(f"banditroute: this command needs {exc.name}, which the server install leaves out: "
              "pip install 'banditroute[bench]' (make demo and make bench install it)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def configure_logging(level: str, form: str) -> None:
    """Log lines on stderr, as readable text or as one JSON object a line for a log shipper."""
    handler = logging.StreamHandler()
    if form == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Other libraries' warnings and errors always; their debug chatter never drowns the decisions.
    handler.addFilter(lambda record: record.levelno >= logging.WARNING
                      or record.name.partition(".")[0] in ("router", "learners", "simulator"))
    logging.basicConfig(level=level, handlers=[handler])


COMMANDS_GROUP = "banditroute.commands"
BENCH_MODULES = {"mlflow", "matplotlib", "pyarrow"}  # the [bench] extra (pandas comes with statsmodels)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="banditroute",
        description="An LLM router: a gRPC decision service that picks the model for each prompt "
        "and learns from quality feedback which choice pays.",
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="WARNING (default) logs warnings and errors only; DEBUG adds a line per decision")
    parser.add_argument("--log-format", default="text", choices=["text", "json"],
                        help="json: one JSON object a line, a decision's fields included (default text)")
    parser.add_argument("--api-key", help="API key for the calls to a server (default $BANDITROUTE_API_KEY; a "
                        "server with no keys configured prints its dev key and keeps it in <data-dir>/dev-api-key)")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for module in (serving, decisions, admin, reports, advice, security):
        module.add_commands(commands)
    # The benchmarks (demo, simulate, replay, ...) live in the simulator, which depends on the router and
    # not the other way round: it registers its commands under this entry-point group (pyproject.toml).
    for entry_point in entry_points(group=COMMANDS_GROUP):
        entry_point.load()(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
