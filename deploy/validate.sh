#!/usr/bin/env bash
# Offline validation of everything under deploy/, k8s/ and docker-compose.yml.
# Runnable from any directory; installs its tools when missing:
#   PyPI:   kubernetes-validate (bundled Kubernetes JSON schemas), pyyaml
#   Debian: docker-compose (1.29: `config` works without a Docker engine)
# Checks:
#   1. every YAML file under k8s/ parses;
#   2. every manifest under k8s/ (not kustomization files, not patches/)
#      validates against the Kubernetes ${K8S_VERSION} schemas, --strict
#      (unknown fields are errors; an unknown kind is an error too: the
#      manifests are CRD-free);
#   3. kustomizations are consistent: resources and patches exist, every
#      manifest is used by one, patch targets exist in the base;
#   4. when kubectl is available: each overlay renders (`kubectl kustomize`)
#      and the rendered output validates and passes check_env.py;
#   5. `docker-compose -f docker-compose.yml config -q`;
#   6. compose defines postgres, redis, nats, nginx, gateway-1, gateway-2,
#      chat-persistence, feed and presence, each with a healthcheck;
#   7. deploy/nginx.conf proxies WebSockets to both gateways; deploy/Dockerfile
#      builds the four binaries into a non-root runtime image;
#   8. deploy/check_env.py: every service sets every variable it reads.
# Exits non-zero when any check fails (after running all of them).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.32.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
failures=()

# run_check NAME COMMAND...: runs a check, shows its output, records the result.
run_check() {
    local name="$1"
    shift
    echo "==> ${name}"
    if "$@" >"$WORK/out" 2>&1; then
        sed 's/^/    /' "$WORK/out"
        echo "    PASS ${name}"
        passed=$((passed + 1))
    else
        sed 's/^/    /' "$WORK/out"
        echo "    FAIL ${name}"
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "validate.sh: need root to run: $*" >&2
        return 1
    fi
}

ensure_python_tools() {
    local need=()
    "$PYTHON" -c 'import yaml' 2>/dev/null || need+=(pyyaml)
    if ! "$PYTHON" - "$K8S_VERSION" <<'EOF' 2>/dev/null; then
import os, sys
import kubernetes_validate
schemas = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
sys.exit(0 if os.path.isdir(os.path.join(schemas, f"v{sys.argv[1]}-local-strict")) else 1)
EOF
        need+=(kubernetes-validate)
    fi
    if [ "${#need[@]}" -gt 0 ]; then
        echo "validate.sh: installing ${need[*]} (pip)"
        "$PYTHON" -m pip install -q --upgrade "${need[@]}"
    fi
}

ensure_docker_compose() {
    command -v docker-compose >/dev/null 2>&1 && return 0
    echo "validate.sh: installing docker-compose (apt)"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y -qq --no-install-recommends docker-compose >"$WORK/apt.log" 2>&1; then
        as_root apt-get update -qq >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; return 1; }
        as_root apt-get install -y -qq --no-install-recommends docker-compose >"$WORK/apt.log" 2>&1 \
            || { cat "$WORK/apt.log" >&2; return 1; }
    fi
}

ensure_python_tools
ensure_docker_compose

# ---------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------

# Resource manifests: every YAML under k8s/ but kustomization files and patches.
mapfile -t MANIFESTS < <(find k8s -type f \( -name '*.yaml' -o -name '*.yml' \) \
    ! -name 'kustomization.yaml' ! -name 'kustomization.yml' ! -path '*/patches/*' | sort)
mapfile -t OVERLAYS < <(find k8s/overlays -mindepth 2 -maxdepth 2 -name kustomization.yaml \
    -exec dirname {} \; | sort)

check_yaml_parses() {
    "$PYTHON" - <<'EOF'
import pathlib, sys, yaml
bad = ndocs = 0
files = sorted(p for p in pathlib.Path("k8s").rglob("*") if p.suffix in (".yaml", ".yml"))
for p in files:
    try:
        ndocs += sum(1 for d in yaml.safe_load_all(p.read_text()) if d is not None)
    except yaml.YAMLError as e:
        print(f"{p}: {e}")
        bad += 1
print(f"{len(files)} YAML files ({ndocs} documents, kustomizations and patches included), {bad} unparsable")
sys.exit(1 if bad or not files else 0)
EOF
}

# kubernetes-validate exits 0 on a kind it has no schema for (only a WARN):
# with CRD-free manifests that is a mistake (a typo in kind or apiVersion).
k8s_validate() {
    local out="$WORK/kv.out" rc=0
    "$PYTHON" -m kubernetes_validate --strict -k "$K8S_VERSION" "$@" >"$out" 2>&1 || rc=$?
    cat "$out"
    if grep -q "Couldn't find schema" "$out"; then
        echo "unknown kind or apiVersion (the manifests must be CRD-free)"
        rc=1
    fi
    local n
    n="$(grep -c ' passed for resource ' "$out" || true)"
    echo "${n} resource(s) valid against Kubernetes ${K8S_VERSION} (strict)"
    [ "$n" -gt 0 ] || rc=1
    return "$rc"
}

check_kustomizations() {
    "$PYTHON" - <<'EOF'
import pathlib, sys, yaml
root = pathlib.Path("k8s")
problems = []
used = set()
resources = {}  # (kind, name) -> file, from the base and overlay resource files

def docs(p):
    return [d for d in yaml.safe_load_all(p.read_text()) if isinstance(d, dict)]

for p in sorted(root.rglob("*.yaml")):
    if p.name == "kustomization.yaml" or "patches" in p.parts:
        continue
    for d in docs(p):
        resources[(d.get("kind"), (d.get("metadata") or {}).get("name"))] = p

for k in sorted(root.rglob("kustomization.yaml")):
    (kz,) = docs(k)
    for r in kz.get("resources") or []:
        target = (k.parent / r).resolve()
        if target.is_file():
            used.add(target)
        elif not (target / "kustomization.yaml").is_file():
            problems.append(f"{k}: resource {r} does not exist")
    for patch in kz.get("patches") or []:
        if "path" in patch:
            pp = (k.parent / patch["path"]).resolve()
            if not pp.is_file():
                problems.append(f"{k}: patch {patch['path']} does not exist")
                continue
            used.add(pp)
            body = yaml.safe_load(pp.read_text())
        else:
            body = yaml.safe_load(patch.get("patch", ""))
        target = patch.get("target")
        if isinstance(body, list):  # JSON 6902 patch: needs a target
            if not target:
                problems.append(f"{k}: JSON patch {patch.get('path', '(inline)')} has no target")
            for op in body:
                if not (isinstance(op, dict) and op.get("op") in ("add", "remove", "replace", "move", "copy", "test") and "path" in op):
                    problems.append(f"{k}: {patch.get('path', '(inline)')}: not a JSON patch operation: {op}")
        elif isinstance(body, dict) and not target:  # strategic merge: must match a resource
            key = (body.get("kind"), (body.get("metadata") or {}).get("name"))
            if key not in resources:
                problems.append(f"{k}: patch {patch.get('path')} targets {key[0]}/{key[1]}, which no manifest defines")
        if target and target.get("name") and (target.get("kind"), target["name"]) not in resources:
            problems.append(f"{k}: patch target {target.get('kind')}/{target['name']} does not exist")
    print(f"{k}: {len(kz.get('resources') or [])} resource(s), {len(kz.get('patches') or [])} patch(es), "
          f"{len(kz.get('secretGenerator') or [])} secretGenerator(s)")

# Every manifest is used by a kustomization, except the Secret template.
for p in sorted(root.rglob("*.yaml")):
    if p.name == "kustomization.yaml" or p.name.endswith(".template.yaml"):
        continue
    if p.resolve() not in used:
        problems.append(f"{p}: not referenced by any kustomization.yaml")

for line in problems:
    print("ERROR", line)
sys.exit(1 if problems else 0)
EOF
}

render_overlays() {
    if ! command -v kubectl >/dev/null 2>&1; then
        echo "kubectl not found: overlays not rendered (their files were validated one by one above)"
        return 0
    fi
    local rc=0 overlay name
    for overlay in "${OVERLAYS[@]}"; do
        name="$(basename "$overlay")"
        mkdir -p "$WORK/rendered/$name"
        if ! kubectl kustomize "$overlay" >"$WORK/rendered/$name/all.yaml" 2>"$WORK/kz.err"; then
            echo "${overlay}: kubectl kustomize failed:"
            cat "$WORK/kz.err"
            rc=1
            continue
        fi
        echo "${overlay}: rendered $(grep -c '^kind:' "$WORK/rendered/$name/all.yaml") resource(s)"
        k8s_validate "$WORK/rendered/$name/all.yaml" >"$WORK/kv-rendered.out" || rc=1
        grep -v ' passed for resource ' "$WORK/kv-rendered.out" || true
        "$PYTHON" deploy/check_env.py --quiet --k8s "$WORK/rendered/$name" || rc=1
    done
    return "$rc"
}

run_check "k8s: YAML parses" check_yaml_parses
run_check "k8s: ${#MANIFESTS[@]} manifest files against Kubernetes ${K8S_VERSION} schemas (strict)" \
    k8s_validate "${MANIFESTS[@]}"
run_check "k8s: kustomizations consistent" check_kustomizations
run_check "k8s: overlays render and validate (${OVERLAYS[*]})" render_overlays

# ---------------------------------------------------------------------------
# docker-compose
# ---------------------------------------------------------------------------

check_compose_config() {
    docker-compose -f docker-compose.yml config -q || return 1
    echo "docker-compose $(docker-compose version --short 2>/dev/null || echo '?'): config -q ok"
}

check_compose_services() {
    docker-compose -f docker-compose.yml config >"$WORK/compose.resolved.yml" || return 1
    "$PYTHON" - "$WORK/compose.resolved.yml" <<'EOF'
import sys, yaml
services = yaml.safe_load(open(sys.argv[1]))["services"]
want = ["postgres", "redis", "nats", "nginx", "gateway-1", "gateway-2", "chat-persistence", "feed", "presence"]
bad = 0
for name in want:
    svc = services.get(name)
    if svc is None:
        print(f"ERROR service {name} is not defined"); bad += 1
    elif not (svc.get("healthcheck") or {}).get("test") or svc["healthcheck"].get("disable"):
        print(f"ERROR service {name} has no healthcheck"); bad += 1
    else:
        print(f"{name}: healthcheck {' '.join(map(str, svc['healthcheck']['test']))}")
ids = {services[g]["environment"].get("GATEWAY_ID") for g in ("gateway-1", "gateway-2") if g in services}
if len(ids) != 2:
    print("ERROR gateway-1 and gateway-2 must have distinct GATEWAY_ID values"); bad += 1
sys.exit(1 if bad else 0)
EOF
}

run_check "compose: docker-compose -f docker-compose.yml config -q" check_compose_config
run_check "compose: required services with health checks" check_compose_services

# ---------------------------------------------------------------------------
# nginx, Dockerfile
# ---------------------------------------------------------------------------

# require FILE DESCRIPTION REGEX: the file must contain a line matching REGEX.
require() {
    if grep -Eq "$3" "$1"; then
        echo "ok   $2"
    else
        echo "MISSING in $1: $2 (/$3/)"
        return 1
    fi
}

check_nginx() {
    local rc=0
    require deploy/nginx.conf "upstream with gateway-1" 'server[[:space:]]+gateway-1:3000' || rc=1
    require deploy/nginx.conf "upstream with gateway-2" 'server[[:space:]]+gateway-2:3000' || rc=1
    require deploy/nginx.conf "Upgrade header" 'proxy_set_header[[:space:]]+Upgrade[[:space:]]+\$http_upgrade' || rc=1
    require deploy/nginx.conf "Connection header" 'proxy_set_header[[:space:]]+Connection[[:space:]]+\$connection_upgrade' || rc=1
    require deploy/nginx.conf "HTTP/1.1 to upstream" 'proxy_http_version[[:space:]]+1\.1' || rc=1
    require deploy/nginx.conf "long proxy_read_timeout" 'proxy_read_timeout[[:space:]]+[0-9]{4,}s' || rc=1
    return "$rc"
}

check_dockerfile() {
    local rc=0 bin
    require deploy/Dockerfile "cached dependency stage (cargo chef cook)" 'cargo chef cook' || rc=1
    require deploy/Dockerfile "slim runtime stage" '^FROM[[:space:]]+debian:.*-slim' || rc=1
    require deploy/Dockerfile "non-root user" '^USER[[:space:]]+[1-9][0-9]*' || rc=1
    for bin in gateway chat-persistence feed presence; do
        require deploy/Dockerfile "binary ${bin}" "for bin in .*\\b${bin}\\b" || rc=1
    done
    require .dockerignore "target/ excluded" '^/?target/?$' || rc=1
    require .dockerignore ".git excluded" '^/?\.git/?$' || rc=1
    return "$rc"
}

run_check "nginx: deploy/nginx.conf WebSocket proxy to both gateways" check_nginx
run_check "image: deploy/Dockerfile and .dockerignore" check_dockerfile

# ---------------------------------------------------------------------------
# Environment variables
# ---------------------------------------------------------------------------

run_check "env: deploy/check_env.py (compose, k8s and README vs the services' config.rs)" \
    "$PYTHON" deploy/check_env.py

echo
if [ "$failed" -gt 0 ]; then
    echo "validate.sh: ${failed} check(s) FAILED, ${passed} ok:"
    printf '    - %s\n' "${failures[@]}"
    exit 1
fi
echo "validate.sh: all ${passed} checks ok (Kubernetes ${K8S_VERSION} schemas, docker-compose, check_env)"
