#!/usr/bin/env python3
"""Checks that every deployment sets every variable its service reads.

The variables each binary reads are the one list each service declares
beside its Settings::load: COMMON_ENV_VARS in shared/src/config.rs for every
service, and ENV_VARS in services/<binary>/src/config.rs (Settings::load can
read no variable these lists lack, and a unit test per service fails when
one is listed but not read). Then:

- docker-compose.yml: every compose service whose command runs one of the
  four binaries must set all of that binary's variables (environment,
  including YAML merge keys, or env_file);
- Kubernetes: every container of a Deployment whose command runs one of the
  binaries must set all of them (env, envFrom). A configMapKeyRef must name a
  key of a ConfigMap defined in the manifests (or a kustomize
  configMapGenerator); a secretKeyRef to a Secret defined there (the Secret
  template, a secretGenerator) must name one of its keys.
- Every binary must be deployed at least once in compose and in Kubernetes.
- Shutdown budget: a Deployment's terminationGracePeriodSeconds must exceed
  its preStop sleep plus SHUTDOWN_GRACE_SECS, and a compose service's
  stop_grace_period must exceed SHUTDOWN_GRACE_SECS, so a drain is never
  cut short by SIGKILL.
- Docs: the configuration table of README.md lists every variable with the
  services that read it ("all" for the common ones), and nothing else.

Kustomize patch files (any path with a `patches` directory) and
kustomization files are not resources: they are skipped, except that
kustomization secretGenerator/configMapGenerator entries count as Secrets and
ConfigMaps. Point --k8s at a directory of `kubectl kustomize` output to check
a rendered overlay.

Exit status: 0 when everything is set, 1 naming each missing variable with its
service, 2 when the inputs cannot be read.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "pyyaml"],
        check=False,
    )
    import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHUTDOWN_GRACE_SECS = 20


class InputError(Exception):
    """An input file is missing or cannot be parsed."""


# --------------------------------------------------------------------------
# The lists the services declare
# --------------------------------------------------------------------------


def rust_str_list(path: Path, const: str) -> list[str]:
    """The string literals of `const <const>: &[&str] = &[...];` in a Rust file."""
    try:
        src = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read {path}: {e}") from e
    # Drop line comments so a commented-out entry does not count.
    src = re.sub(r"//[^\n]*", "", src)
    m = re.search(rf"const\s+{const}\s*:\s*&\[\s*&str\s*\]\s*=\s*&\[(.*?)\]\s*;", src, re.S)
    if not m:
        raise InputError(f"{const} not found in {rel(path)}")
    names = re.findall(r'"([A-Za-z0-9_]+)"', m.group(1))
    if not names:
        raise InputError(f"no variables in {const} of {rel(path)}")
    return names


def declared_env(root: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Returns (COMMON_ENV_VARS, {binary: its ENV_VARS}); a service's binary is
    named after its directory under services/."""
    common = rust_str_list(root / "shared/src/config.rs", "COMMON_ENV_VARS")
    services = {
        config.parent.parent.name: rust_str_list(config, "ENV_VARS")
        for config in sorted((root / "services").glob("*/src/config.rs"))
    }
    if not services:
        raise InputError(f"no services/*/src/config.rs under {root}")
    return common, services


# --------------------------------------------------------------------------
# README.md's configuration table
# --------------------------------------------------------------------------


def check_readme(path: Path, common: list[str], per_service: dict[str, list[str]], errors: list[str]):
    """Every declared variable is a row of the table, naming the services
    that read it (`all` for the common ones), and every row is declared."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read {path}: {e}") from e
    section = text.split("## Configuration", 1)[-1].split("\n## ", 1)[0]
    documented: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        services = {s.strip() for s in cells[1].split(",")}
        for var in re.findall(r"`([A-Z0-9_]+)`", cells[0]):
            documented[var] = services
    wanted: dict[str, set[str]] = {v: {"all"} for v in common}
    for binary, names in per_service.items():
        for v in names:
            wanted.setdefault(v, set()).add(binary)
    for var, services in sorted(wanted.items()):
        if var not in documented:
            errors.append(f"{rel(path)}: {var} ({', '.join(sorted(services))}) is not in the configuration table")
        elif documented[var] != services:
            errors.append(
                f"{rel(path)}: {var} is read by {', '.join(sorted(services))}, "
                f"the configuration table says {', '.join(sorted(documented[var]))}"
            )
    for var in sorted(set(documented) - set(wanted)):
        errors.append(f"{rel(path)}: {var} is in the configuration table but no service declares it")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def load_yaml_docs(path: Path) -> list[dict]:
    try:
        with path.open(encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"cannot parse {path}: {e}") from e


def command_binary(command, binaries: set[str]) -> str | None:
    """The binary a container command runs, if it is one of ours."""
    if isinstance(command, str):
        command = command.split()
    if not command:
        return None
    first = Path(str(command[0])).name
    return first if first in binaries else None


def parse_duration_secs(value) -> float | None:
    """Compose durations: '30s', '1m30s', '1h', '500ms', or a number of seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    total, matched = 0.0, False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", str(value)):
        matched = True
        total += float(num) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total if matched else None


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------
# docker-compose.yml
# --------------------------------------------------------------------------


def compose_env(service: dict, compose_dir: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    env_files = service.get("env_file") or []
    if isinstance(env_files, (str, dict)):
        env_files = [env_files]
    for entry in env_files:
        file = entry.get("path") if isinstance(entry, dict) else entry
        p = compose_dir / str(file)
        if p.is_file():
            for line in p.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    key, _, value = line.partition("=")
                    env[key.strip()] = value
    raw = service.get("environment") or {}
    if isinstance(raw, dict):
        env.update({str(k): "" if v is None else str(v) for k, v in raw.items()})
    else:
        for item in raw:
            key, _, value = str(item).partition("=")
            env[key] = value
    return env


def check_compose(path: Path, wanted: dict[str, list[str]], errors: list[str], notes: list[str]):
    docs = load_yaml_docs(path)
    if not docs or not isinstance(docs[0].get("services"), dict):
        raise InputError(f"{path}: no services")
    binaries = set(wanted)
    seen: set[str] = set()
    for name, svc in docs[0]["services"].items():
        if not isinstance(svc, dict):
            continue
        binary = command_binary(svc.get("command"), binaries)
        if binary is None:
            build = svc.get("build")
            dockerfile = build.get("dockerfile", "") if isinstance(build, dict) else ""
            if "deploy/Dockerfile" in str(dockerfile):
                errors.append(
                    f"compose service '{name}': built from deploy/Dockerfile but its command "
                    f"names none of {sorted(binaries)}"
                )
            continue
        seen.add(binary)
        env = compose_env(svc, path.parent)
        missing = [v for v in wanted[binary] if v not in env]
        for var in missing:
            errors.append(f"compose service '{name}' ({binary}): {var} is not set")
        grace = parse_duration_secs(env.get("SHUTDOWN_GRACE_SECS") or DEFAULT_SHUTDOWN_GRACE_SECS)
        stop = parse_duration_secs(svc.get("stop_grace_period")) or 10.0  # compose default
        if grace is not None and stop <= grace:
            errors.append(
                f"compose service '{name}' ({binary}): stop_grace_period {stop:g}s must exceed "
                f"SHUTDOWN_GRACE_SECS {grace:g}s"
            )
        if not missing:
            notes.append(f"ok  compose  {name:<18} ({binary}): {len(wanted[binary])} variables set")
    for binary in sorted(binaries - seen):
        errors.append(f"compose: no service runs '{binary}' (command: [\"{binary}\"])")


# --------------------------------------------------------------------------
# Kubernetes manifests
# --------------------------------------------------------------------------


def generator_data(entry: dict, base_dir: Path) -> dict[str, str]:
    """Keys and values of a kustomize configMapGenerator/secretGenerator entry."""
    data: dict[str, str] = {}
    lines = [str(lit) for lit in entry.get("literals") or []]
    for env_file in entry.get("envs") or []:
        p = base_dir / env_file
        if p.is_file():
            lines += [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            data[key] = value
    for f in entry.get("files") or []:
        f = str(f)
        data[f.split("=", 1)[0] if "=" in f else Path(f).name] = ""
    return data


def collect_k8s(root: Path):
    """Returns (Deployments with their file, {ConfigMap name: [(source, data)]}, same for Secrets).

    A name may be defined more than once (a template and a generator, base
    and overlay); a referenced key must then be in every definition.
    """
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    workloads: list[tuple[Path, dict]] = []
    configmaps: dict[str, list[tuple[str, dict]]] = {}
    secrets: dict[str, list[tuple[str, dict]]] = {}
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files:
        if "patches" in path.relative_to(root).parts:
            continue
        if path.name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
            for doc in load_yaml_docs(path):
                for entry in doc.get("configMapGenerator") or []:
                    src = f"configMapGenerator in {rel(path)}"
                    configmaps.setdefault(entry["name"], []).append((src, generator_data(entry, path.parent)))
                for entry in doc.get("secretGenerator") or []:
                    src = f"secretGenerator in {rel(path)}"
                    secrets.setdefault(entry["name"], []).append((src, generator_data(entry, path.parent)))
            continue
        for doc in load_yaml_docs(path):
            kind = doc.get("kind")
            name = (doc.get("metadata") or {}).get("name", "")
            if kind == "ConfigMap":
                data = {**(doc.get("binaryData") or {}), **(doc.get("data") or {})}
                configmaps.setdefault(name, []).append((rel(path), data))
            elif kind == "Secret":
                data = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
                secrets.setdefault(name, []).append((rel(path), data))
            elif kind == "Deployment":
                workloads.append((path, doc))
    return workloads, configmaps, secrets


def prestop_sleep_secs(container: dict) -> float | None:
    pre = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in pre:
        return float(pre["sleep"].get("seconds", 0))
    cmd = (pre.get("exec") or {}).get("command") or []
    text = " ".join(str(c) for c in cmd)
    m = re.search(r"\bsleep\s+(\d+(?:\.\d+)?)", text)
    return float(m.group(1)) if m else None


def shutdown_grace_secs(item, configmaps: dict[str, list[tuple[str, dict]]]) -> float:
    """SHUTDOWN_GRACE_SECS of a container: its value, or the largest of its ConfigMap's definitions."""
    if not isinstance(item, dict):
        return DEFAULT_SHUTDOWN_GRACE_SECS
    if "value" in item:
        return float(item["value"] or DEFAULT_SHUTDOWN_GRACE_SECS)
    cm = (item.get("valueFrom") or {}).get("configMapKeyRef") or {}
    found = [
        float(data[cm.get("key")])
        for _, data in configmaps.get(cm.get("name"), [])
        if re.fullmatch(r"\d+(\.\d+)?", str(data.get(cm.get("key"), "")).strip())
    ]
    return max(found, default=DEFAULT_SHUTDOWN_GRACE_SECS)


def check_k8s(root: Path, wanted: dict[str, list[str]], errors: list[str], notes: list[str]):
    workloads, configmaps, secrets = collect_k8s(root)
    binaries = set(wanted)
    seen: set[str] = set()
    external: set[str] = set()
    for path, doc in workloads:
        dep = doc["metadata"].get("name", "?")
        pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in pod.get("containers") or []:
            binary = command_binary(container.get("command"), binaries)
            if binary is None:
                continue
            seen.add(binary)
            where = f"k8s Deployment '{dep}' ({rel(path)}) container '{container.get('name')}' ({binary})"
            env_names: set[str] = set()
            values: dict[str, object] = {}
            for src in container.get("envFrom") or []:
                prefix = src.get("prefix", "")
                for kind, index in (("configMapRef", configmaps), ("secretRef", secrets)):
                    ref = src.get(kind)
                    if ref:
                        for _, data in index.get(ref.get("name"), []):
                            env_names |= {prefix + k for k in data}
            for item in container.get("env") or []:
                var = item.get("name")
                env_names.add(var)
                values[var] = item
                vf = item.get("valueFrom") or {}
                cm = vf.get("configMapKeyRef")
                if cm and not cm.get("optional"):
                    defs = configmaps.get(cm.get("name"))
                    if not defs:
                        errors.append(f"{where}: {var} refers to ConfigMap '{cm.get('name')}', which no manifest defines")
                    else:
                        for src in (src for src, data in defs if cm.get("key") not in data):
                            errors.append(f"{where}: {var} refers to key '{cm.get('key')}' missing from ConfigMap '{cm.get('name')}' ({src})")
                sk = vf.get("secretKeyRef")
                if sk and not sk.get("optional"):
                    defs = secrets.get(sk.get("name"))
                    if defs is None:
                        external.add(str(sk.get("name")))
                    else:
                        for src in (src for src, data in defs if sk.get("key") not in data):
                            errors.append(f"{where}: {var} refers to key '{sk.get('key')}' missing from Secret '{sk.get('name')}' ({src})")
            missing = [v for v in wanted[binary] if v not in env_names]
            for var in missing:
                errors.append(f"{where}: {var} is not set")
            # Shutdown budget.
            grace = shutdown_grace_secs(values.get("SHUTDOWN_GRACE_SECS"), configmaps)
            sleep = prestop_sleep_secs(container)
            tgps = pod.get("terminationGracePeriodSeconds", 30)
            if sleep is None:
                errors.append(f"{where}: no preStop sleep (endpoints must deregister before SIGTERM)")
            elif tgps <= sleep + grace:
                errors.append(
                    f"{where}: terminationGracePeriodSeconds {tgps} must exceed preStop {sleep:g}s "
                    f"+ SHUTDOWN_GRACE_SECS {grace:g}s"
                )
            if not missing:
                notes.append(f"ok  k8s      {dep:<18} ({binary}): {len(wanted[binary])} variables set ({rel(path)})")
    if external:
        notes.append(f"    k8s ({rel(root)}): Secrets provided outside these manifests (keys not checked): "
                     + ", ".join(sorted(external)))
    for binary in sorted(binaries - seen):
        errors.append(f"k8s ({rel(root)}): no Deployment runs '{binary}' (command: [\"{binary}\"])")


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose", type=Path, default=ROOT / "docker-compose.yml")
    parser.add_argument("--k8s", type=Path, action="append",
                        help="directory of Kubernetes manifests (repeatable; default k8s/)")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    args = parser.parse_args(argv)
    k8s_dirs = args.k8s or [ROOT / "k8s"]

    try:
        common, per_service = declared_env(ROOT)
        wanted = {svc: common + [v for v in extra if v not in common] for svc, extra in per_service.items()}
        errors: list[str] = []
        notes: list[str] = []
        check_readme(args.readme, common, per_service, errors)
        check_compose(args.compose, wanted, errors, notes)
        for d in k8s_dirs:
            check_k8s(d, wanted, errors, notes)
    except InputError as e:
        print(f"check_env: {e}", file=sys.stderr)
        return 2

    if not args.quiet:
        print(f"check_env: {len(common)} common variables (shared/src/config.rs); "
              + ", ".join(f"{s} +{len(v)}" for s, v in per_service.items())
              + " (services/<binary>/src/config.rs)")
        for line in notes:
            print(line)
    if errors:
        for line in errors:
            print(f"MISSING {line}" if line.endswith("is not set") else f"ERROR   {line}", file=sys.stderr)
        print(f"check_env: FAILED ({len(errors)} problem(s))", file=sys.stderr)
        return 1
    print("check_env: every service sets every variable it reads, in compose and in Kubernetes,"
          " and the README documents each one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
