"""Reading a config file as the server will, with every problem said in terms of the file's keys.

`banditroute config check FILE` and `serve --config FILE` both come here: a file that checks out
starts the server, and one that does not names each bad key (and the key meant, for a misspelt one)
instead of a traceback.
"""

from __future__ import annotations

import difflib
import ssl
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from router.config import Settings, TlsSettings
from router.domain.errors import InvalidArgument
from router.domain.registry import Registry
from router.domain.rules import check_models


class ConfigError(Exception):
    """A config file the server cannot start with; `problems` has one line per bad key. `whole_file`:
    the file could not be read as a config at all, and its one problem says why."""

    def __init__(self, path: Path, problems: list[str], whole_file: bool = False):
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems
        self.whole_file = whole_file


@dataclass(frozen=True)
class CheckedConfig:
    settings: Settings
    registry: Registry

    def summary(self) -> str:
        s = self.settings
        rules = sum(len(t.rules) for t in s.tenants.values())
        budgets = sum(len(t.budgets) for t in s.tenants.values())
        auth = "auth disabled" if not s.auth.enabled else f"{len(s.auth.keys)} API key(s)" if s.auth.keys \
            else "no API keys (the server makes a dev admin key)"
        return (f"{len(s.tenants)} tenant(s), {rules} rule(s), {budgets} budget(s), {auth}, {s.tls.mode}, "
                f"{len(self.registry)} models in the registry, data in {s.data_dir}")


def check_config(path: Path | None, **overrides) -> CheckedConfig:
    """The settings of `path` (defaults when None) and the registry they name, every rule's models
    checked against it; ConfigError listing every problem otherwise."""
    settings = _settings(path, overrides)
    try:
        registry = Registry.from_yaml(settings.registry_path)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ConfigError(path, [f"registry_path: {settings.registry_path} is not a readable model registry: "
                                 f"{exc}"]) from exc
    problems = _tls_problems(settings.tls)
    for tenant_id, tenant in settings.tenants.items():
        for i, rule in enumerate(tenant.rules):
            try:
                check_models(rule, registry)
            except InvalidArgument as exc:
                problem = str(exc).removeprefix(f"{exc.field}: ")
                problems.append(f"tenants.{tenant_id}.rules.{i}.{exc.field.removeprefix('rule.')}: {problem}")
    if problems:
        raise ConfigError(path, problems)
    return CheckedConfig(settings, registry)


def _tls_problems(tls: TlsSettings) -> list[str]:
    """What the server would fail on when it loads its TLS files: one it cannot read, a certificate and
    key that are no PEM pair (gRPC would say only that it failed to bind), a client CA file with no
    certificate."""
    files = {key: path for key in ("cert_file", "key_file", "client_ca_file")
             if (path := getattr(tls, key)) is not None}
    problems = []
    for key, path in files.items():
        try:
            path.read_bytes()
        except OSError as exc:
            problems.append(f"tls.{key}: cannot read {path}: {exc.strerror}")
    if problems or not files:
        return problems
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An empty password: an encrypted key (which gRPC cannot use) fails here instead of prompting.
        context.load_cert_chain(tls.cert_file, tls.key_file, password=b"")
    except ssl.SSLError:
        problems.append(f"tls.key_file: {tls.cert_file} and {tls.key_file} are not a PEM certificate chain and "
                        "its unencrypted private key")
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(tls.client_ca_file)
        except ssl.SSLError:
            problems.append(f"tls.client_ca_file: {tls.client_ca_file} holds no PEM certificate")
    return problems


def _settings(path: Path | None, overrides: dict) -> Settings:
    doc = _document(path) if path is not None else {}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            value = {**doc[key], **value}  # a nested override changes only the keys it names
        if value is not None:
            doc[key] = value
    try:
        return Settings.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(path, [_problem(error) for error in exc.errors()]) from exc
    except RecursionError as exc:  # nesting that YAML read but validation cannot walk
        raise ConfigError(path, [_TOO_DEEP], whole_file=True) from exc


_TOO_DEEP = "is nested too deeply to be a configuration"


def _document(path: Path) -> dict:
    """The file's YAML as a mapping; ConfigError (whole_file) when it cannot be read as one.

    Besides YAML's own errors, its constructor raises RecursionError for deep nesting and
    ValueError for a value it cannot convert (an integer of over 4,300 digits, a 13th month)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(path, [f"cannot be read: {exc.strerror}"], whole_file=True) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"is not valid YAML: {' '.join(str(exc).split())}"], whole_file=True) from exc
    except RecursionError as exc:
        raise ConfigError(path, [_TOO_DEEP], whole_file=True) from exc
    except ValueError as exc:
        # Python's own advice (sys.set_int_max_str_digits) follows a semicolon; it is no use to an operator.
        problem = " ".join(str(exc).split(";")[0].split())
        raise ConfigError(path, [f"holds a value YAML cannot read: {problem}"], whole_file=True) from exc
    doc = doc or {}
    if not isinstance(doc, dict):
        raise ConfigError(path, [f"must be a mapping of keys to values, not a YAML {type(doc).__name__}"],
                          whole_file=True)
    return doc


def _problem(error: dict) -> str:
    """One pydantic error as `key.path: what is wrong`; a misspelt key gets the nearest known one."""
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] != "extra_forbidden":
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    known = _known_keys(Settings, error["loc"][:-1])
    close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    return f"{where}: unknown key" + (f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}")


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc` inside `model`, where `loc` steps through fields, mapping keys and
    list indexes."""
    kind, skip = model, 0
    for part in loc:
        if skip:  # a mapping's key or a list's index: the step into the container's items
            skip -= 1
            continue
        if not (_is_model(kind) and part in kind.model_fields):
            return []
        kind, skip = field_items(kind.model_fields[part].annotation)
    return list(kind.model_fields) if _is_model(kind) else []


def field_items(annotation: object) -> tuple[object, int]:
    """What a field holds once its lists and mappings are stepped into (and None dropped), and how
    many steps that is."""
    steps = 0
    while not _is_model(annotation) and typing.get_args(annotation):
        if typing.get_origin(annotation) in (list, dict):
            steps += 1
        annotation = [a for a in typing.get_args(annotation) if a is not type(None)][-1]
    return annotation, steps


def _is_model(kind: object) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)
