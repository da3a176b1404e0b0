"""`banditroute security-eval` and `security-train`: their options. The work is in security_eval.py, imported
only when one of them runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("security-eval", help="measure the security flag on labelled prompts",
                            description="Read every text of a JSONL file as Route does (the configured reader, "
                            "MiniLM second looks included) and report per label how many are flagged as security "
                            "work at the threshold, and by what: hint, rule (an explicit security term) or detector.")
    p.add_argument("--data", type=Path, required=True, metavar="FILE.jsonl",
                   help='{"text", "label"} lines, any integer labels (other keys ignored)')
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the figures to this JSON file")
    p.add_argument("--threshold", type=float, help="detector probability that flags a text (default: the "
                   "config's default tenant security_threshold)")
    p.add_argument("--config", type=Path, help="service configuration (YAML): embedding and security_recheck_above")
    p.add_argument("--curve", type=Path, metavar="PNG", help="also plot each label's flagged share across "
                   "thresholds 0.05-0.95 here (and add the curve to the JSON)")
    p.set_defaults(run=_security_eval)
    p = commands.add_parser("security-train", help="retrain the security detectors (takes a few minutes)",
                            description="Train the security detector for each embedding (static, MiniLM) from "
                            "learners/security_data/train.jsonl and the shared data's trainable part, save them, "
                            "and print their cross-validated flagged shares per group of examples.")
    p.add_argument("--shared-data", metavar="DIR", help="the shared data directory (default ../shared/data beside "
                   "the checkout, when there); none: the project's own examples only")
    p.add_argument("--out-dir", type=Path, metavar="DIR", help="where the detectors are saved (default: the "
                   "installed router package, where the service loads them)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the training report to this JSON file")
    p.add_argument("--threshold", type=float, help="threshold of the reported flagged shares (default: the "
                   "default security_threshold)")
    p.set_defaults(run=_security_train)


def _security_eval(args) -> int:
    from router.cli.security_eval import run_security_eval

    return run_security_eval(args.data, args.json, args.threshold, args.config, args.curve)


def _security_train(args) -> int:
    from router.cli.security_eval import run_security_train

    return run_security_train(args.shared_data, args.out_dir, args.json, args.threshold)
