"""deploy/kubernetes: every manifest is valid for Kubernetes KUBERNETES_VERSION (kubernetes-validate --strict, with the
schemas that package ships: no network), and the rules that would otherwise drift silently hold: the settings are the
ones .env.example names, the termination arithmetic agrees with DRAIN_SECONDS and GUNICORN_GRACEFUL_TIMEOUT as the
Deployment sets them (and with gunicorn.conf.py, loaded with that environment), the probes hit /health and /ready on
the port gunicorn binds, every pod is non-root without privilege escalation, and the mail queue is one shared volume.

Each rule is a function returning its problems; the last tests feed them broken copies, so a rule that stopped
finding anything would fail here too. docs/deployment.md ("Kubernetes: when one VM is outgrown") explains the rules.
"""
import copy
import re
import runpy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.configs import ConfigurationError, ProdConfig

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
# The newest Kubernetes version whose schemas kubernetes-validate (requirements/development.txt) ships.
KUBERNETES_VERSION = "1.37.0"
APP_USER = 10001  # the Dockerfile's USER
IMAGE = "gatehouse:latest"  # the placeholder the manifests use; kustomization.yaml's `images:` replaces it
NAMESPACE = "gatehouse"
MARGIN_SECONDS = 5  # terminationGracePeriodSeconds beyond preStop + GUNICORN_GRACEFUL_TIMEOUT: the master's exit
APPLY_FIRST = ("gatehouse/apply-first", "true")  # kubectl apply -k deploy/kubernetes -l gatehouse/apply-first=true
SENSITIVE = {"SECRET_KEY", "DATABASE_URL", "MAIL_PASSWORD", "METRICS_BEARER_TOKEN", "FIRST_ADMIN_PASSWORD",
             "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"}
NOT_APPLIED = {"kustomization.yaml", "secret.example.yaml"}


# --- loading --------------------------------------------------------------------------------------------------------

def _documents(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def _manifest_files():
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def _applied():
    """Every object `kubectl apply -k deploy/kubernetes` applies: the files kustomization.yaml lists."""
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))
    return [doc for name in kustomization["resources"] for doc in _documents(MANIFESTS / name)]


def _one(docs, kind, name):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _pod_specs(docs):
    """(workload name, pod spec) of every Deployment, Job and CronJob."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _containers(spec):
    return [*spec.get("initContainers", []), *spec["containers"]]


def _settings():
    """Every setting .env.example names: assigned (`NAME=value`) or shown commented out (`# NAME=`: unset, default)."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def _environment(container, docs):
    """The container's environment as Kubernetes builds it: envFrom sources in order, then env. Values that come from
    a Secret are None (never committed)."""
    result = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            result.update(_one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        result[item["name"]] = item.get("value")
    return result


def _cores(quantity):
    """A CPU quantity ("2", "1500m", 2) in cores."""
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _container_port(container, port):
    """A probe's or Service's port (a number or the name of a container port) as a number."""
    if isinstance(port, int):
        return port
    return next((p["containerPort"] for p in container.get("ports", []) if p.get("name") == port), None)


def _matches(selector, labels):
    return all(labels.get(key) == value for key, value in selector.items())


# --- the rules, each returning its problems ------------------------------------------------------------------------

def validation_problems(doc, version=KUBERNETES_VERSION):
    """kubernetes-validate --strict (unknown fields are errors). A kind it has no schema for is a problem too: the CLI
    only warns about those, which would let a misspelt apiVersion through."""
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{name}: {'.'.join(str(p) for p in error.path)}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{name}: {error.message}"]
    return []


def setting_problems(docs, secret_docs):
    """ConfigMap keys, Secret keys and container variables are settings .env.example names; no ConfigMap value is
    empty (that would override the default, not leave the setting unset); no key is in both the ConfigMap and a
    Secret; nothing secret sits in the ConfigMap."""
    named = _settings()
    problems = []
    config = {}
    for config_map in (d for d in docs if d["kind"] == "ConfigMap"):
        config.update(config_map.get("data", {}))
    secret_keys = set()
    for secret in (d for d in secret_docs if d["kind"] == "Secret"):
        secret_keys |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
    problems += [f"ConfigMap key {k} is not a setting in .env.example" for k in sorted(set(config) - named)]
    problems += [f"ConfigMap key {k} is empty: leave it out to keep the default" for k, v in config.items() if not v]
    problems += [f"Secret key {k} is not a setting in .env.example" for k in sorted(secret_keys - named)]
    problems += [f"{k} is in the ConfigMap and a Secret" for k in sorted(set(config) & secret_keys)]
    problems += [f"{k} is a secret but in the ConfigMap" for k in sorted(set(config) & SENSITIVE)]
    for workload, spec in _pod_specs(docs):
        for container in _containers(spec):
            for item in container.get("env", []):
                if item["name"] not in named:
                    problems.append(f"{workload}/{container['name']}: {item['name']} is not named in .env.example")
    return problems


def drain_problems(deployment, docs):
    """The termination arithmetic (app-deployment.yaml's header, docs/deployment.md)."""
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = _environment(container, docs)
    problems = []
    for name in ("DRAIN_SECONDS", "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_TIMEOUT"):
        if not env.get(name):
            problems.append(f"{name} must be set in the Deployment (the arithmetic depends on it)")
    if problems:
        return problems
    drain, graceful, timeout = (float(env[n]) for n in ("DRAIN_SECONDS", "GUNICORN_GRACEFUL_TIMEOUT",
                                                          "GUNICORN_TIMEOUT"))
    pre_stop = (container.get("lifecycle", {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    readiness = container.get("readinessProbe", {})
    liveness = container.get("livenessProbe", {})
    noticed = (readiness.get("periodSeconds", 10) * readiness.get("failureThreshold", 3)
               + readiness.get("timeoutSeconds", 1))
    if pre_stop < 1:
        problems.append("no preStop sleep: SIGTERM would race the endpoint removal")
    if drain <= 0:
        problems.append("DRAIN_SECONDS must be positive")
    if graceful <= drain:
        problems.append(f"GUNICORN_GRACEFUL_TIMEOUT {graceful} must exceed DRAIN_SECONDS {drain}")
    if noticed > drain:
        problems.append(f"the readiness probe notices the drain only after {noticed} s > DRAIN_SECONDS {drain}")
    if grace < pre_stop + graceful + MARGIN_SECONDS:
        problems.append(f"terminationGracePeriodSeconds {grace} < preStop {pre_stop} + GUNICORN_GRACEFUL_TIMEOUT "
                        f"{graceful} + {MARGIN_SECONDS}: the kubelet would SIGKILL before gunicorn's own deadline")
    if liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3) < timeout:
        problems.append("the liveness probe gives up before GUNICORN_TIMEOUT: gunicorn replaces stuck workers itself")
    return problems


def probe_problems(deployment, service, docs):
    """Probes hit /health and /ready on the port gunicorn binds; the Service sends to that port."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    bind = _environment(container, docs).get("BIND") or ""
    port = int(bind.rpartition(":")[2]) if bind.rpartition(":")[2].isdigit() else None
    declared = [p["containerPort"] for p in container.get("ports", [])]
    problems = [] if port in declared else [f"BIND {bind!r} is not a declared container port {declared}"]
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready"), ("startupProbe", "/health")):
        get = container.get(probe, {}).get("httpGet")
        if not get:
            problems.append(f"no {probe} (httpGet {path})")
            continue
        if get.get("path") != path:
            problems.append(f"{probe} asks {get.get('path')}, not {path}")
        if _container_port(container, get.get("port")) != port:
            problems.append(f"{probe} port {get.get('port')} is not gunicorn's {port}")
    for service_port in service["spec"]["ports"]:
        if _container_port(container, service_port.get("targetPort", service_port["port"])) != port:
            problems.append(f"Service port {service_port['port']} does not reach gunicorn's {port}")
    if not _matches(service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]):
        problems.append("the Service selects no app pod")
    return problems


def security_problems(workload, spec):
    """Non-root as the image's user, no privilege escalation, nothing writable but its volumes, no API token."""
    pod = spec.get("securityContext", {})
    problems = []
    if pod.get("runAsNonRoot") is not True or pod.get("runAsUser") != APP_USER or pod.get("runAsGroup") != APP_USER:
        problems.append(f"{workload}: pod must run as non-root uid/gid {APP_USER}")
    if pod.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{workload}: seccompProfile must be RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{workload}: mounts a service account token it does not need")
    if pod.get("runAsUser") == 0 or spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append(f"{workload}: root or host namespaces")
    for container in _containers(spec):
        where = f"{workload}/{container['name']}"
        context = container.get("securityContext", {})
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        if context.get("privileged"):
            problems.append(f"{where}: privileged")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: the root file system must be read-only")
        if context.get("capabilities", {}).get("drop") != ["ALL"] or context.get("capabilities", {}).get("add"):
            problems.append(f"{where}: capabilities must drop ALL and add none")
        if context.get("runAsUser", APP_USER) != APP_USER or context.get("runAsNonRoot") is False:
            problems.append(f"{where}: overrides the non-root user")
        if "/tmp" not in {m["mountPath"] for m in container.get("volumeMounts", [])}:  # noqa: S108
            problems.append(f"{where}: no writable /tmp")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problems.append(f"{where}: no {resource} {kind}")
        if resources.get("limits", {}).get("memory") != resources.get("requests", {}).get("memory"):
            problems.append(f"{where}: memory request and limit differ (an OOM kill under node pressure)")
    return problems


def mail_queue_problems(docs):
    """Every container running the app image mounts one ReadWriteMany claim at MAIL_QUEUE_PATH."""
    claims = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    problems, used = [], set()
    for workload, spec in _pod_specs(docs):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in _containers(spec):
            path = _environment(container, docs).get("MAIL_QUEUE_PATH")
            mount = next((m for m in container.get("volumeMounts", []) if m["mountPath"] == path), None)
            claim = (volumes.get(mount["name"], {}) if mount else {}).get("persistentVolumeClaim", {}).get("claimName")
            if not path or claim not in claims:
                problems.append(f"{workload}/{container['name']}: MAIL_QUEUE_PATH {path!r} is not the shared claim")
            else:
                used.add(claim)
    if len(used) != 1:
        problems.append(f"the pods must share one mail queue claim, they use {sorted(used)}")
    for name in used:
        if "ReadWriteMany" not in claims[name]["spec"]["accessModes"]:
            problems.append(f"{name}: pods on several nodes need ReadWriteMany")
    return problems


def metrics_dir_problems(docs):
    """PROMETHEUS_MULTIPROC_DIR only where gunicorn runs (the image's command), whose master creates it at start: a
    `flask` command refuses to start when the directory does not exist. It must lie on a writable emptyDir."""
    problems = []
    for workload, spec in _pod_specs(docs):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in _containers(spec):
            directory = _environment(container, docs).get("PROMETHEUS_MULTIPROC_DIR")
            where = f"{workload}/{container['name']}"
            if directory and "command" in container:
                problems.append(f"{where}: PROMETHEUS_MULTIPROC_DIR set for a command that does not create it")
            if not directory:
                continue
            mounts = [m for m in container.get("volumeMounts", [])
                      if directory.startswith(m["mountPath"].rstrip("/") + "/")]
            if not any("emptyDir" in volumes.get(m["name"], {}) and not m.get("readOnly") for m in mounts):
                problems.append(f"{where}: PROMETHEUS_MULTIPROC_DIR {directory} is not on a writable emptyDir")
    return problems


# --- the manifests against the schemas ------------------------------------------------------------------------------

def test_kubernetes_validate_is_the_pinned_one_and_ships_the_schemas_of_the_version_we_validate_against():
    # The package bundles the schemas (nothing is downloaded at run time). An older one would validate against an
    # older Kubernetes; a newer pin should move KUBERNETES_VERSION along.
    pin = re.search(r"^kubernetes-validate==(\S+)", (ROOT / "requirements" / "development.txt").read_text(),
                    re.MULTILINE)
    assert pin, "requirements/development.txt must pin kubernetes-validate"
    assert kubernetes_validate.__version__ == pin.group(1)
    assert kubernetes_validate.latest_version() == KUBERNETES_VERSION


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: p.name)
def test_every_manifest_is_valid_for_the_kubernetes_version_strictly(path):
    docs = _documents(path)
    assert docs, f"{path.name} holds no object"
    problems = [p for doc in docs for p in validation_problems(doc)]
    assert problems == []


def test_kustomization_applies_every_manifest_in_the_namespace_with_one_image_name():
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in MANIFESTS.glob("*.yaml")} - NOT_APPLIED
    assert listed == on_disk, "kustomization.yaml must list every manifest (secret.example.yaml excepted)"
    assert "secret.example.yaml" not in listed  # Secrets are created with kubectl, never applied from the repository
    assert kustomization["namespace"] == NAMESPACE
    docs = _applied()
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert _one(docs, "Namespace", NAMESPACE)
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {NAMESPACE}
    images = {c["image"] for _, spec in _pod_specs(docs) for c in _containers(spec)}
    assert images == {IMAGE}
    assert [i["name"] for i in kustomization["images"]] == [IMAGE.partition(":")[0]]


# --- the rules on the real manifests ---------------------------------------------------------------------------------

def test_settings_are_the_ones_env_example_names_and_secrets_stay_out_of_the_configmap():
    docs = _applied()
    assert setting_problems(docs, _documents(MANIFESTS / "secret.example.yaml")) == []
    config = _one(docs, "ConfigMap", "gatehouse-config")["data"]
    assert config["GATEHOUSE_ENV"] == "production"
    assert int(config["PROXY_HOPS"]) == 1  # the ingress controller, and nothing else (NetworkPolicy)
    assert config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://"))  # shared by every pod


def test_the_example_secret_holds_placeholders_that_production_refuses():
    secrets = _documents(MANIFESTS / "secret.example.yaml")
    values = {k: v for s in secrets for k, v in s["stringData"].items()}
    assert {"SECRET_KEY", "DATABASE_URL"} <= set(values)
    assert all("REPLACE-ME" in value for value in values.values())
    environ = {"GATEHOUSE_ENV": "production", "SECRET_KEY": values["SECRET_KEY"],
               "DATABASE_URL": values["DATABASE_URL"]}
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        ProdConfig(environ)


def test_the_termination_arithmetic_holds():
    docs = _applied()
    assert drain_problems(_one(docs, "Deployment", "gatehouse-app"), docs) == []


def test_gunicorn_conf_accepts_the_deployments_environment_and_sizes_workers_to_the_cpu_limit(monkeypatch):
    docs = _applied()
    container = _one(docs, "Deployment", "gatehouse-app")["spec"]["template"]["spec"]["containers"][0]
    env = _environment(container, docs)
    for name, value in env.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    monkeypatch.setattr("dotenv.load_dotenv", lambda *args, **kwargs: False)  # a developer's .env plays no part
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))  # raises if GUNICORN_GRACEFUL_TIMEOUT <= DRAIN_SECONDS
    assert conf["DRAIN_SECONDS"] == float(env["DRAIN_SECONDS"])
    assert conf["graceful_timeout"] == int(env["GUNICORN_GRACEFUL_TIMEOUT"])
    assert conf["timeout"] == int(env["GUNICORN_TIMEOUT"])
    assert conf["bind"] == [env["BIND"]]
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    # One sync worker per core of the limit (gunicorn's default would count the node's CPUs); requests == limits, so
    # the HPA's utilization and the workers describe the same cores.
    assert conf["workers"] == _cores(limits["cpu"]) == _cores(requests["cpu"])


def test_probes_hit_health_and_ready_on_gunicorns_port():
    docs = _applied()
    assert probe_problems(_one(docs, "Deployment", "gatehouse-app"), _one(docs, "Service", "gatehouse-app"),
                          docs) == []


def test_every_pod_runs_non_root_without_privilege_escalation():
    problems = [p for workload, spec in _pod_specs(_applied()) for p in security_problems(workload, spec)]
    assert problems == []


def test_the_prometheus_directory_is_set_only_where_gunicorn_creates_it_on_an_empty_dir():
    docs = _applied()
    assert metrics_dir_problems(docs) == []
    assert _environment(_app_container(docs), docs)["PROMETHEUS_MULTIPROC_DIR"]  # the app's /metrics adds workers up


def test_the_namespace_enforces_the_restricted_pod_security_standard():
    labels = _one(_applied(), "Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_pod_shares_one_read_write_many_mail_queue():
    docs = _applied()
    assert mail_queue_problems(docs) == []
    mailer = _one(docs, "Deployment", "gatehouse-mailer")["spec"]["template"]["spec"]["containers"][0]
    command = mailer["command"]
    assert command[:5] == ["flask", "--app", "autoapp", "send-mail", "--loop"]
    # Its liveness probe reads the heartbeat file the loop touches, on a writable volume.
    heartbeat = command[command.index("--heartbeat-file") + 1]
    assert heartbeat in " ".join(mailer["livenessProbe"]["exec"]["command"])
    assert any(heartbeat.startswith(m["mountPath"] + "/") for m in mailer["volumeMounts"])


def test_autoscaler_budget_service_and_policy_select_the_app_pods_only():
    docs = _applied()
    app = _one(docs, "Deployment", "gatehouse-app")
    labels = app["spec"]["template"]["metadata"]["labels"]
    others = [d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] == "Deployment" and d is not app]
    assert "replicas" not in app["spec"]  # the HPA owns the count; a replicas field would reset it on each apply
    hpa = _one(docs, "HorizontalPodAutoscaler", "gatehouse-app")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gatehouse-app"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = _one(docs, "PodDisruptionBudget", "gatehouse-app")
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
    policy = _one(docs, "NetworkPolicy", "gatehouse-app")
    for selector in (pdb["spec"]["selector"]["matchLabels"], policy["spec"]["podSelector"]["matchLabels"],
                     _one(docs, "Service", "gatehouse-app")["spec"]["selector"]):
        assert _matches(selector, labels)
        assert not any(_matches(selector, other) for other in others)
    assert app["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_migration_job_runs_first_with_what_it_needs_and_the_purge_runs_daily():
    docs = _applied()
    job = _one(docs, "Job", "gatehouse-migrate")
    container = job["spec"]["template"]["spec"]["containers"][0]
    script = " ".join(container["command"])
    assert "flask --app autoapp db upgrade" in script
    assert "flask --app autoapp create-admin" in script
    first_admin = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if e["name"].startswith("FIRST_ADMIN_")]
    assert len(first_admin) == 2
    assert all(ref["optional"] is True for ref in first_admin)
    # `kubectl apply -k deploy/kubernetes -l gatehouse/apply-first=true` applies the Job and what it mounts or reads,
    # and none of the workloads that must wait for the migration.
    first = {(d["kind"], d["metadata"]["name"]) for d in docs
             if d["metadata"].get("labels", {}).get(APPLY_FIRST[0]) == APPLY_FIRST[1]}
    claims = {("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"])
              for v in job["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v}
    configs = {("ConfigMap", s["configMapRef"]["name"]) for s in container["envFrom"] if "configMapRef" in s}
    assert first == {("Namespace", NAMESPACE), ("Job", "gatehouse-migrate")} | claims | configs
    cron = _one(docs, "CronJob", "gatehouse-purge-expired")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "flask", "--app", "autoapp", "purge-expired"]


# --- the rules find what they exist for ------------------------------------------------------------------------------

def _mutated(change):
    docs = copy.deepcopy(_applied())
    change(docs)
    return docs


def _app_container(docs):
    return _one(docs, "Deployment", "gatehouse-app")["spec"]["template"]["spec"]["containers"][0]


def _set_env(docs, name, value):
    next(e for e in _app_container(docs)["env"] if e["name"] == name)["value"] = value


def _pod(docs, name="gatehouse-app"):
    return _one(docs, "Deployment", name)["spec"]["template"]["spec"]


BROKEN = {
    "grace period shorter than preStop + graceful timeout": (
        "drain", lambda docs: _pod(docs).update(terminationGracePeriodSeconds=30)),
    "graceful timeout not above the drain": ("drain", lambda docs: _set_env(docs, "GUNICORN_GRACEFUL_TIMEOUT", "10")),
    "readiness too slow to see the drain": (
        "drain", lambda docs: _app_container(docs)["readinessProbe"].update(periodSeconds=10)),
    "no preStop": ("drain", lambda docs: _app_container(docs).pop("lifecycle")),
    "readiness on /health": ("probe", lambda docs: _app_container(docs)["readinessProbe"]["httpGet"].update(
        path="/health")),
    "liveness on another port": ("probe", lambda docs: _app_container(docs)["livenessProbe"]["httpGet"].update(
        port=8080)),
    "BIND on another port": ("probe", lambda docs: _set_env(docs, "BIND", "0.0.0.0:8000")),
    "root user": ("security", lambda docs: _pod(docs, "gatehouse-mailer")["securityContext"].update(runAsUser=0)),
    "privilege escalation": ("security", lambda docs: _app_container(docs)["securityContext"].update(
        allowPrivilegeEscalation=True)),
    "a capability added": ("security", lambda docs: _app_container(docs)["securityContext"]["capabilities"].update(
        add=["NET_BIND_SERVICE"])),
    "the Prometheus directory for every pod": (
        "metrics", lambda docs: _one(docs, "ConfigMap", "gatehouse-config")["data"].update(
            PROMETHEUS_MULTIPROC_DIR="/run/gatehouse/metrics")),
    "the Prometheus directory on the read-only root": (
        "metrics", lambda docs: _set_env(docs, "PROMETHEUS_MULTIPROC_DIR", "/srv/gatehouse/metrics")),
    "a setting .env.example does not know": (
        "settings", lambda docs: _one(docs, "ConfigMap", "gatehouse-config")["data"].update(DRAIN_SECONDZ="5")),
    "an empty setting": (
        "settings", lambda docs: _one(docs, "ConfigMap", "gatehouse-config")["data"].update(CORS_ORIGINS="")),
    "a secret in the ConfigMap": (
        "settings", lambda docs: _one(docs, "ConfigMap", "gatehouse-config")["data"].update(SECRET_KEY="x")),
    "the mailer on its own queue": ("mail", lambda docs: _pod(docs, "gatehouse-mailer").update(
        volumes=[{"name": "mail-queue", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}])),
    "a ReadWriteOnce queue": ("mail", lambda docs: _one(docs, "PersistentVolumeClaim", "gatehouse-mail-queue")[
        "spec"].update(accessModes=["ReadWriteOnce"])),
}


def _problems(rule, docs):
    if rule == "drain":
        return drain_problems(_one(docs, "Deployment", "gatehouse-app"), docs)
    if rule == "probe":
        return probe_problems(_one(docs, "Deployment", "gatehouse-app"), _one(docs, "Service", "gatehouse-app"), docs)
    if rule == "security":
        return [p for workload, spec in _pod_specs(docs) for p in security_problems(workload, spec)]
    if rule == "settings":
        return setting_problems(docs, [])
    if rule == "metrics":
        return metrics_dir_problems(docs)
    return mail_queue_problems(docs)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_rule_reports_a_broken_copy(case):
    rule, change = BROKEN[case]
    assert _problems(rule, _mutated(change)) != []


@pytest.mark.parametrize("change", [
    lambda doc: doc["spec"]["template"]["spec"]["containers"][0].update(readinessProbes={}),  # a misspelt field
    lambda doc: doc["spec"]["template"]["spec"]["securityContext"].update(runAsUser="10001"),  # a string
    lambda doc: doc.update(apiVersion="apps/v1beta1"),  # an API this Kubernetes version no longer serves
], ids=["unknown field", "wrong type", "removed api version"])
def test_strict_validation_reports_a_broken_deployment(change):
    doc = copy.deepcopy(_one(_applied(), "Deployment", "gatehouse-app"))
    change(doc)
    assert validation_problems(doc) != []
