"""Lints, renders and validates charts/switchboard (run by scripts/check-chart).

For the values files in charts/switchboard/ci/ (the least a user sets, and a production-like
configuration): `helm lint --strict`, `helm template`, then every rendered manifest against
the Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields fail), plus the
chart's own promises: pods run as non-root with a read-only root filesystem, every container
has resources and probes, the webhook server has no Kubernetes access, the operator's RBAC
names no wildcard and never writes Secrets. The chart's CRDs must be the generated ones.

Also the GitOps examples (gitops/): the Argo CD health check (health.lua, run with
Lua through lupa against objects Ready, not Ready, not yet observed and without status; the
ConfigMap must carry that very script for each kind), and the kustomize files (every resource
they list exists; every patch targets an object of the base).
Exits non-zero on any failure.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import helm_python as helm
import kubernetes_validate
import lupa
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "switchboard"
KUBE_VERSION = "1.30.0"
# Kinds whose schema is a CRD of another project; checked for shape by the rules below only.
FOREIGN = {"monitoring.coreos.com/v1/ServiceMonitor"}

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"FAIL {message}")


def docs(rendered: dict[str, str]) -> list[tuple[str, dict]]:
    out = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                out.append((path, doc))
    return out


def check_pod(where: str, spec: dict, values_name: str) -> None:
    pod = spec["template"]["spec"]
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        fail(f"{values_name}: {where}: pod securityContext.runAsNonRoot is not true")
    for c in pod["containers"]:
        name = f"{where} container {c['name']}"
        sc = c.get("securityContext", {})
        for key, want in [
            ("runAsNonRoot", True),
            ("readOnlyRootFilesystem", True),
            ("allowPrivilegeEscalation", False),
        ]:
            if sc.get(key) is not want:
                fail(f"{values_name}: {name}: securityContext.{key} must be {want}")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            fail(f"{values_name}: {name}: capabilities must drop ALL")
        res = c.get("resources", {})
        if not res.get("requests") or "memory" not in res.get("limits", {}):
            fail(f"{values_name}: {name}: needs resource requests and a memory limit")
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in c:
                fail(f"{values_name}: {name}: has no {probe}")
        check_secret_mounts(name, pod, c, values_name)


def secret_readable(pod: dict, container: dict, volume: dict) -> tuple[bool, str]:
    """Whether the container's user can read the files of a Secret volume, by the kubelet's rules.

    Secret files are owned by root (uid 0) with the volume's `defaultMode` (0644 when unset).
    With a pod `fsGroup`, the kubelet gives the volume that group and ORs group read into the
    mode of a read-only volume (Kubernetes docs, "Configure a Security Context for a Pod or
    Container": "the permission bits are OR'd with rw-rw----"). The process runs as the
    container's runAsUser/runAsGroup (falling back to the pod's), with the pod's fsGroup and
    supplementalGroups as extra groups.
    """
    psc, csc = pod.get("securityContext", {}), container.get("securityContext", {})
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    fs_group = psc.get("fsGroup")
    mode = volume["secret"].get("defaultMode", 0o644)
    groups = {gid, *psc.get("supplementalGroups", [])}
    file_gid = 0
    if fs_group is not None:
        groups.add(fs_group)
        file_gid = fs_group
        mode |= 0o440
    if uid is None:
        return False, "runs as the image's user (no runAsUser): cannot tell"
    if uid == 0:
        return True, "root"
    if mode & 0o004:
        return True, f"mode {mode:o} readable by others"
    if file_gid in groups and mode & 0o040:
        return True, f"group {file_gid} with mode {mode:o}"
    return False, f"uid {uid} gid {gid}: files are root:{file_gid} mode {mode:o}"


def check_secret_mounts(name: str, pod: dict, container: dict, values_name: str) -> None:
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for m in container.get("volumeMounts", []):
        v = volumes.get(m["name"])
        if not v or "secret" not in v:
            continue
        ok, why = secret_readable(pod, container, v)
        if not ok:
            fail(f"{values_name}: {name}: cannot read Secret volume {m['name']}: {why}")
        elif why == "root":
            fail(f"{values_name}: {name}: reads Secret volume {m['name']} only as root")
        elif v["secret"].get("defaultMode", 0o644) & 0o007:
            fail(f"{values_name}: {name}: Secret volume {m['name']} is readable by other users")
        else:
            print(f"ok   {values_name}: {name} reads Secret volume {m['name']} ({why}), not as root")


def check_secret_rule() -> None:
    """The readability rule itself, on the pod that crash-looped in a real cluster."""
    pod = {"securityContext": {"runAsNonRoot": True}}
    c = {"securityContext": {"runAsUser": 65532, "runAsGroup": 65532}}
    v = {"secret": {"defaultMode": 0o400}}
    if secret_readable(pod, c, v)[0]:
        fail("secret_readable: a 0400 root-owned Secret without fsGroup must be unreadable to uid 65532")
    pod["securityContext"]["fsGroup"] = 65532
    if not secret_readable(pod, c, v)[0]:
        fail("secret_readable: with fsGroup 65532 the kubelet grants group read")


def check(values_file: pathlib.Path) -> None:
    name = values_file.name
    values = yaml.safe_load(values_file.read_text())
    report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_VERSION}")
    for m in report.get("messages", []):
        if m.get("severity", 0) >= 2:
            fail(f"{name}: helm lint: {m.get('path')}: {m.get('error')}")
    for e in report.get("errors", []) or []:
        fail(f"{name}: helm lint: {e}")
    chart = helm.Chart.load(str(CHART))
    rendered = chart.render(values, name="switchboard", namespace="switchboard", is_install=True)
    manifests = docs(rendered)
    for crd in chart.crds:
        manifests.extend((crd["name"], d) for d in yaml.safe_load_all(crd["data"]) if d)
    kinds = set()
    for path, doc in manifests:
        kind = f"{doc.get('apiVersion')}/{doc.get('kind')}"
        kinds.add(doc.get("kind"))
        where = f"{path} {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        if kind not in FOREIGN:
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                fail(f"{name}: {where}: {e.message} at {'/'.join(map(str, e.path))}")
            except kubernetes_validate.SchemaNotFoundError:
                fail(f"{name}: {where}: no Kubernetes schema for {kind}")
        if doc.get("kind") == "Deployment":
            check_pod(where, doc["spec"], name)
        if doc.get("kind") == "ServiceAccount" and doc["metadata"]["name"].endswith("-webhook"):
            if doc.get("automountServiceAccountToken") is not False:
                fail(f"{name}: {where}: the webhook server's token must not be mounted")
        if doc.get("kind") in ("RoleBinding", "ClusterRoleBinding"):
            for s in doc.get("subjects", []):
                if s.get("name", "").endswith("-webhook"):
                    fail(f"{name}: {where}: the webhook server must have no RBAC binding")
        if doc.get("kind") in ("Role", "ClusterRole"):
            for rule in doc.get("rules", []):
                for field in ("apiGroups", "resources", "verbs"):
                    if "*" in rule.get(field, []):
                        fail(f"{name}: {where}: wildcard in {field}")
                if "secrets" in rule.get("resources", []):
                    if set(rule["verbs"]) - {"get", "list", "watch"}:
                        fail(f"{name}: {where}: secrets must be read-only, got {rule['verbs']}")
    print(f"ok   {name}: {len(manifests)} manifests ({', '.join(sorted(kinds))})")


def check_health_lua() -> None:
    argocd = ROOT / "gitops" / "argocd"
    script = (argocd / "health.lua").read_text()
    cm = yaml.safe_load((argocd / "health-checks.yaml").read_text())
    for kind in ("PhoneNumber", "IncomingCallPolicy", "EscalationChain", "Schedule"):
        key = f"resource.customizations.health.switchboard.dev_{kind}"
        if cm["data"].get(key, "").strip() != script.strip():
            fail(f"health-checks.yaml: {key} is not health.lua")
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    run = lua.eval("function(src, obj) return load('local obj = ...; ' .. src)(obj) end")

    def health(obj: dict) -> tuple[str, str]:
        hs = run(script, lua.table_from(obj, recursive=True))
        return hs["status"], hs["message"]

    def ready(status: str, reason: str, generation: int = 2, observed: int = 2) -> dict:
        return {
            "metadata": {"generation": generation},
            "status": {
                "observedGeneration": observed,
                "conditions": [
                    {"type": "ReferencesResolved", "status": "True"},
                    {"type": "Ready", "status": status, "reason": reason, "message": "m"},
                ],
            },
        }

    cases = [
        (ready("True", "Ready"), "Healthy"),
        (ready("False", "InvalidReferences"), "Degraded"),
        (ready("Unknown", "Reconciling"), "Progressing"),
        (ready("True", "Ready", generation=3, observed=2), "Progressing"),
        ({"metadata": {"generation": 1}}, "Progressing"),
    ]
    for obj, want in cases:
        got, message = health(obj)
        if got != want:
            fail(f"health.lua: {obj} gave {got} ({message}), want {want}")
    if health(ready("False", "InvalidReferences"))[1] != "InvalidReferences: m":
        fail("health.lua: the message must carry the condition's reason and message")
    print(f"ok   Argo CD health check: {len(cases)} cases")


def check_kustomize() -> None:
    def objects_of(folder: pathlib.Path) -> set[tuple[str, str]]:
        k = yaml.safe_load((folder / "kustomization.yaml").read_text())
        found = set()
        for r in k.get("resources", []):
            target = (folder / r).resolve()
            if target.is_dir():
                if not (target / "kustomization.yaml").exists():
                    fail(f"{folder}: resource {r} is a folder without kustomization.yaml")
                    continue
                found |= objects_of(target)
            elif not target.exists():
                fail(f"{folder}: resource {r} does not exist")
            else:
                for d in yaml.safe_load_all(target.read_text()):
                    if d:
                        found.add((d["kind"], d["metadata"]["name"]))
        for patch in k.get("patches", []):
            t = patch.get("target", {})
            if (t.get("kind"), t.get("name")) not in found:
                fail(f"{folder}: patch target {t} matches nothing in its resources")
        return found

    for folder in (ROOT / "examples", ROOT / "gitops" / "kustomize" / "staging"):
        print(f"ok   kustomize {folder.relative_to(ROOT)}: {len(objects_of(folder))} objects")


def check_kustomize_builds() -> None:
    """Every kustomization, and every folder an Argo CD Application or Flux Kustomization points
    at, built with real kustomize (`kubectl kustomize`, kustomize v5 in kubectl), which refuses
    what a parse of the YAML cannot see: a base that contains its own overlay (a cycle), a file
    outside the kustomization's root, a patch of nothing."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        message = "kubectl (with kustomize) not found: the kustomize builds were not checked"
        if os.environ.get("CI"):
            fail(message)
        else:
            print(f"SKIP {message}")
        return
    folders = {p.parent for d in ("examples", "gitops") for p in (ROOT / d).rglob("kustomization.yaml")}
    for path in sorted((ROOT / "gitops").rglob("*.yaml")):
        for d in yaml.safe_load_all(path.read_text()):
            if not d:
                continue
            if d.get("kind") == "Application":
                source = d["spec"].get("source", {})
                if source.get("path") and not source.get("chart") and not source["path"].startswith("charts/"):
                    folders.add(ROOT / source["path"])
            if d.get("kind") == "Kustomization" and "path" in d.get("spec", {}):
                folders.add((ROOT / d["spec"]["path"]).resolve())
    for folder in sorted(folders):
        rel = folder.relative_to(ROOT)
        if not (folder / "kustomization.yaml").exists():
            fail(f"kustomize {rel}: a GitOps example points at a folder without kustomization.yaml")
            continue
        run = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True)
        if run.returncode != 0:
            fail(f"kustomize {rel}: {run.stderr.strip()}")
        else:
            count = sum(1 for d in yaml.safe_load_all(run.stdout) if d)
            print(f"ok   kubectl kustomize {rel}: {count} objects")


def check_secret_access() -> None:
    """Who may read Secrets, per operator.secretAccess: by default no ClusterRole does."""
    chart = helm.Chart.load(str(CHART))
    base = yaml.safe_load((CHART / "ci" / "default-values.yaml").read_text())

    def secret_grants(values: dict) -> list[tuple[str, str]]:
        out = []
        for _, d in docs(chart.render(values, name="switchboard", namespace="switchboard")):
            if d.get("kind") in ("Role", "ClusterRole"):
                if any("secrets" in r.get("resources", []) for r in d.get("rules", [])):
                    out.append((d["kind"], d["metadata"].get("namespace", "")))
        return sorted(out)

    cases = [
        ({}, [("Role", "switchboard")]),
        ({"operator": {"secretNamespaces": ["oncall", "payments"]}}, [("Role", "oncall"), ("Role", "payments")]),
        ({"operator": {"secretAccess": "cluster"}}, [("ClusterRole", "")]),
        ({"operator": {"watchNamespace": "oncall"}}, [("Role", "oncall")]),
    ]
    for extra, want in cases:
        values = {**base, **extra}
        got = secret_grants(values)
        if got != want:
            fail(f"secret access with {extra}: Secrets readable through {got}, want {want}")
        else:
            print(f"ok   secret access with {extra or 'the defaults'}: {got}")


def main() -> int:
    generated = (ROOT / "crds" / "switchboard.dev.yaml").read_text()
    if (CHART / "crds" / "switchboard.dev.yaml").read_text() != generated:
        fail("charts/switchboard/crds/switchboard.dev.yaml differs from crds/switchboard.dev.yaml: copy it")
    for values_file in sorted((CHART / "ci").glob("*.yaml")):
        check(values_file)
    # The chart refuses to render without what it cannot guess, naming the value.
    try:
        helm.Chart.load(str(CHART)).render({}, name="switchboard", namespace="switchboard")
        fail("the chart rendered without publicUrl; it must refuse")
    except helm.HelmError as e:
        if "publicUrl is required" not in str(e):
            fail(f"rendering without publicUrl failed without naming it: {e}")
        else:
            print("ok   defaults alone: refused, naming publicUrl")
    check_secret_rule()
    check_secret_access()
    check_health_lua()
    check_kustomize()
    check_kustomize_builds()
    for path in sorted((ROOT / "gitops").rglob("*.yaml")):
        for d in yaml.safe_load_all(path.read_text()):
            if d and d.get("apiVersion") == "v1":
                try:
                    kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
                except kubernetes_validate.ValidationError as e:
                    fail(f"{path}: {e.message}")
    if failures:
        print(f"{len(failures)} chart check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
