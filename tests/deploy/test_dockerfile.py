"""The Dockerfile, read as text (no Docker engine here): pinned base, lock file, every package, non-root user."""

from __future__ import annotations

import re
import shlex
import tomllib

from tests.deploy.manifests import ROOT, Rendered

DOCKERFILE = ROOT / "Dockerfile"
BASE_IMAGE = "python:3.11-slim-bookworm"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")
    ]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def test_every_stage_starts_from_the_pinned_python_base() -> None:
    bases = [args.split()[0] for op, args in _instructions() if op == "FROM"]
    assert bases, "no FROM"
    for base in bases:
        image = base.split("@", 1)[0]
        assert image == BASE_IMAGE, f"{base} is not {BASE_IMAGE}"


def test_installs_from_the_lock_file() -> None:
    instructions = _instructions()
    assert any(op == "COPY" and "constraints.txt" in args.split() for op, args in instructions)
    installs = [shlex.split(args) for op, args in instructions if op == "RUN" and "pip install" in args]
    assert installs, "no pip install"
    for words in installs:
        assert "-c" in words and words[words.index("-c") + 1] == "constraints.txt", " ".join(words)


def test_copies_every_package_the_project_builds() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in patterns}
    copied = {args.split()[0] for op, args in _instructions() if op == "COPY" and not args.startswith("--from")}
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
    assert "pyproject.toml" in copied


def test_runs_as_the_non_root_user_the_manifests_expect(overlays: dict[str, Rendered]) -> None:
    users = [args for op, args in _final_stage() if op == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]} must be a numeric non-root uid"
    for rendered in overlays.values():
        for workload in rendered.workloads():
            assert workload.pod_spec["securityContext"]["runAsUser"] == int(uid), workload.name


def test_entrypoint_is_the_openpool_command() -> None:
    entrypoints = [args for op, args in _final_stage() if op == "ENTRYPOINT"]
    assert entrypoints and entrypoints[-1] == '["openpool"]'
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "openpool" in scripts


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    rules = [rule for rule in rules if not rule.startswith("#")]
    # Everything is excluded first; only the named sources are let back in.
    assert rules[0] == "*"
    assert not any(rule.startswith("!.") for rule in rules), "nothing hidden (.openpool, .venv, .git) comes back"
