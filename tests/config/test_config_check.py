"""`banditroute config check FILE`, and the server's start, read a config as one: each problem names
its key (and the key meant, for a misspelt one); the README documents every key there is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from router.cli.main import main
from router.config import Settings
from router.config.check import field_items

README = Path(__file__).resolve().parents[2] / "README.md"
RULE = "{id: r, conditions: [{field: category, op: in, value: [chat]}], action: {type: route, model: %s}}"


def check(tmp_path: Path, capsys, text: str, command: str = "check") -> tuple[int, str]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    argv = ["config", "check", str(path)] if command == "check" else ["serve", "--config", str(path), "--port", "0"]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_good_file_is_summarised(tmp_path, capsys):
    code, said = check(tmp_path, capsys, "tenants:\n  acme:\n    budgets: [{daily_usd: 5}]\n    rules: [%s]\n"
                       % (RULE % "gpt-4o-mini"))
    assert code == 0
    assert "ok: 1 tenant(s), 1 rule(s), 1 budget(s)" in said


@pytest.mark.parametrize("text, problem", [
    ("cache: {similiarity_threshold: 0.9}", "cache.similiarity_threshold: unknown key (did you mean "
                                            "'similarity_threshold'?)"),
    ("tenants: {acme: {budgets: [{dayly_usd: 3}]}}", "tenants.acme.budgets.0.dayly_usd: unknown key (did you mean "
                                                     "'daily_usd'?)"),
    ("tenants: {acme: {cost_weight: -1}}", "tenants.acme.cost_weight: Input should be greater than or equal to 0"),
    ("tenants: {acme: {rules: [%s]}}" % (RULE % "gpt-9"), "tenants.acme.rules.0.action.model: unknown model gpt-9"),
    ("zzz_unheard_of: 1", "zzz_unheard_of: unknown key; known: data_dir, registry_path"),
    ("- a list", "must be a mapping of keys to values, not a YAML list"),
    ("a: [", "is not valid YAML: while parsing a flow node"),
])
def test_each_problem_is_said_with_its_key(tmp_path, capsys, text, problem):
    code, said = check(tmp_path, capsys, text)
    assert code == 2
    assert problem in said
    assert "Traceback" not in said


def test_every_problem_of_a_file_is_said_at_once(tmp_path, capsys):
    code, said = check(tmp_path, capsys, "limits: {max_batch: 0}\ncache: {enabled: maybe}\n")
    assert code == 2 and "2 problem(s)" in said
    assert "limits.max_batch" in said and "cache.enabled" in said


def test_the_server_refuses_to_start_on_a_bad_file_the_same_way(tmp_path, capsys):
    code, said = check(tmp_path, capsys, "max_workers: 0", command="serve")
    assert code == 2
    assert "max_workers: Input should be greater than or equal to 1" in said


def test_a_missing_file_is_said_plainly(tmp_path, capsys):
    assert main(["config", "check", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot be read: No such file or directory" in capsys.readouterr().err


def test_the_readme_documents_every_key():
    block = README.read_text().split("## Configuration", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    documented = set(re.findall(r"(\w+):", block))
    assert set(field_names(Settings)) <= documented, set(field_names(Settings)) - documented


def field_names(model: type[BaseModel]) -> list[str]:
    """Every key a config may hold, nested settings included (a rule's own keys are the rules' section's)."""
    names = []
    for name, field in model.model_fields.items():
        names.append(name)
        inner, _ = field_items(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel) and name != "rules":
            names += field_names(inner)
    return names
