"""deploy/kubernetes/ passes a real schema validator and agrees with the service it runs.

The validator is kubeconform, checking every manifest, and what kustomize renders of the
kustomization (what `kubectl apply -k` applies), against JSON schemas made from the Kubernetes
API's own OpenAPI document, strictly (unknown fields are errors); the tools and the document come
from the Go module proxy through `scripts/k8s-tools` (`scripts/bootstrap --tests` runs it).
Missing in CI, these tests fail instead of skipping, as tests/test_compose.py does for
docker-compose.

The manifests also have to agree with the code: every STREAMER_* name they set is a field of the
settings model (a misspelt section would otherwise be ignored without a word), each Deployment's
environment loads into `Settings` and runs the components it is named for, and the probes ask the
paths and port the service really serves.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr

from streamer.config import Settings, load_settings
from streamer.errors import ConfigError
from streamer.metrics import Metrics
from streamer.sections import WebhookSettings
from streamer.service import http_app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")
# Applied by hand (a Job re-created per release, an Ingress needing a host, a Secret never committed).
NOT_IN_KUSTOMIZATION = {"migrate-job.yaml", "ingress.yaml", "secret.example.yaml"}
EXPECTED_COMPONENTS = {
    "streamer-capture": ("capture",),
    "streamer-sink": ("sink",),
    "streamer-applier": ("applier",),
    "streamer-webhook": ("webhook",),
    "streamer-exporter": ("exporter", "verify"),
    "streamer-monitor": ("monitor",),
}


@functools.cache
def documents(path: Path) -> list[dict[str, Any]]:
    """The file's resources (parsed once: the tests read, never change them)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [doc for doc in yaml.load_all(path.read_text(), Loader=loader) if doc]


def all_documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in documents(path)]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in all_documents() if doc["kind"] == kind}


def workloads() -> dict[str, dict[str, Any]]:
    """Deployments and the migration Job: everything that runs the streamer image."""
    return of_kind("Deployment") | of_kind("Job")


def container(workload: dict[str, Any]) -> dict[str, Any]:
    only: dict[str, Any]
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


# --- the validator ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tools() -> Path:
    """The folder scripts/k8s-tools installed kubeconform, kustomize and the schemas in."""
    proc = subprocess.run([str(ROOT / "scripts" / "k8s-tools"), "--check"], capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("kubeconform and kustomize are missing in CI: scripts/bootstrap --tests installs them "
                        f"({proc.stderr.strip()})")
        pytest.skip("kubeconform and kustomize not installed: run scripts/k8s-tools (scripts/bootstrap --tests does)")
    return Path(proc.stdout.strip())


@pytest.fixture(scope="module")
def kubeconform(tools: Path) -> tuple[Path, Path]:
    """(kubeconform binary, schema folder)."""
    return tools / "bin" / "kubeconform", tools / "schemas"


def kustomize_build(tools: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tools / "bin" / "kustomize"), "build", str(folder)], capture_output=True, text=True,
                          timeout=120, check=False)


def validate(tool: tuple[Path, Path], *files: Path) -> subprocess.CompletedProcess[str]:
    binary, schemas = tool
    return subprocess.run(
        [str(binary), "-strict", "-summary", "-output", "text",
         "-schema-location", f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json", *map(str, files)],
        capture_output=True, text=True, timeout=120, check=False)


def test_every_manifest_passes_kubeconform(kubeconform: tuple[Path, Path]) -> None:
    """Every resource of every file is checked (none skipped for want of a schema) and valid."""
    proc = validate(kubeconform, *MANIFESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    count = len(all_documents())
    assert f"{count} resources found in {len(MANIFESTS)} files - Valid: {count}, Invalid: 0, Errors: 0, Skipped: 0" \
        in proc.stdout, proc.stdout


BROKEN = [
    # (file, what to replace, replacement, what the validator must name)
    ("sink.yaml", "containerPort: 18080", "containerPrt: 18080", "containerPrt"),
    ("sink.yaml", "replicas: 3", "replicas: three", "/spec/replicas"),
    ("capture.yaml", "minAvailable: 1", "minAvailable: [1]", "/spec/minAvailable"),
    ("webhook.yaml", "apiVersion: policy/v1", "apiVersion: policy/v1beta7",
     "could not find schema for PodDisruptionBudget"),
    ("configmap.yaml", "data:", "date:", "date"),
    ("webhook.yaml", "targetPort: http", "targetPort: {name: http}", "/spec/ports/0/targetPort"),
]


@pytest.mark.parametrize(("name", "old", "new", "named"), BROKEN, ids=[f"{b[0]}:{b[2]}" for b in BROKEN])
def test_a_broken_copy_is_rejected(kubeconform: tuple[Path, Path], tmp_path: Path,
                                   name: str, old: str, new: str, named: str) -> None:
    """The check is real: a misspelt field, a wrong type or an unknown API version fails it."""
    text = (DEPLOY / name).read_text()
    assert old in text
    broken = tmp_path / name
    broken.write_text(text.replace(old, new, 1))
    proc = validate(kubeconform, broken)
    assert proc.returncode == 1, proc.stdout
    assert named in proc.stdout, proc.stdout


def test_the_schemas_are_strict_at_every_depth(kubeconform: tuple[Path, Path], tmp_path: Path) -> None:
    """An unknown key deep inside a pod template (a probe's field) is refused, not just at the top."""
    text = (DEPLOY / "sink.yaml").read_text().replace("timeoutSeconds: 5", "timeoutSecs: 5", 1)
    broken = tmp_path / "sink.yaml"
    broken.write_text(text)
    proc = validate(kubeconform, broken)
    assert proc.returncode == 1 and "timeoutSecs" in proc.stdout, proc.stdout


def test_numbers_pass_where_kubernetes_takes_them(kubeconform: tuple[Path, Path], tmp_path: Path) -> None:
    """Not stricter than the API: a quantity may be a number (`cpu: 1`), an int-or-string port an integer."""
    sink = (DEPLOY / "sink.yaml").read_text().replace("cpu: 300m", "cpu: 1", 1)
    webhook = (DEPLOY / "webhook.yaml").read_text().replace("targetPort: http", "targetPort: 18080", 1)
    (tmp_path / "sink.yaml").write_text(sink)
    (tmp_path / "webhook.yaml").write_text(webhook)
    proc = validate(kubeconform, tmp_path / "sink.yaml", tmp_path / "webhook.yaml")
    assert proc.returncode == 0, proc.stdout


# --- the kustomization -------------------------------------------------------------------------


def test_what_kubectl_apply_k_applies_passes_kubeconform(tools: Path, kubeconform: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    """kustomize renders the kustomization (a real parse: unknown keys fail) and the result is valid:
    every resource of the listed files, in the namespace, with the image rewritten and the label added."""
    built = kustomize_build(tools, DEPLOY)
    assert built.returncode == 0, built.stderr
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(built.stdout)
    proc = validate(kubeconform, rendered)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resources = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = [doc for name in kustomization["resources"] for doc in documents(DEPLOY / name)]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in resources) == \
        sorted((d["kind"], d["metadata"]["name"]) for d in listed)
    assert f"Valid: {len(resources)}, Invalid: 0, Errors: 0, Skipped: 0" in proc.stdout
    (image,) = kustomization["images"]
    for doc in resources:
        assert doc["metadata"]["namespace"] == kustomization["namespace"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "lead-sync-streamer"
        if doc["kind"] == "Deployment":
            assert container(doc)["image"] == f"{image['newName']}:{image['newTag']}"


def test_a_broken_kustomization_is_rejected(tools: Path, tmp_path: Path) -> None:
    """kustomize refuses a misspelt key and a resource file that does not exist."""
    for name in MANIFESTS:
        (tmp_path / name.name).write_text(name.read_text())
    text = (DEPLOY / "kustomization.yaml").read_text()
    (tmp_path / "kustomization.yaml").write_text(text.replace("resources:", "resourcez:", 1))
    proc = kustomize_build(tools, tmp_path)
    assert proc.returncode != 0 and "resourcez" in proc.stderr, proc.stderr
    (tmp_path / "kustomization.yaml").write_text(text.replace("- sink.yaml", "- sinks.yaml", 1))
    proc = kustomize_build(tools, tmp_path)
    assert proc.returncode != 0 and "sinks.yaml" in proc.stderr, proc.stderr



def test_the_kustomization_lists_every_manifest_but_the_hand_applied_ones() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MANIFESTS} - NOT_IN_KUSTOMIZATION
    (image,) = kustomization["images"]
    deployments = of_kind("Deployment").values()
    assert {container(d)["image"] for d in deployments} == {image["name"]}
    # The Job is applied outside kustomize, so it names the image the kustomization rewrites to.
    job = container(of_kind("Job")["streamer-migrate"])
    assert job["image"] == f"{image['newName']}:{image['newTag']}"


def test_the_strimzi_tls_component_mounts_the_ca_everywhere(tools: Path, kubeconform: tuple[Path, Path],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         clean_env: None) -> None:
    """Enabled as the kustomization's comment says, the component renders valid resources: every
    Deployment mounts the cluster CA where STREAMER_KAFKA__SSL_CAFILE points, and the settings load."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, copy)
    kustomization = copy / "kustomization.yaml"
    text = kustomization.read_text()
    assert "# components:\n#   - components/strimzi-tls\n" in text
    kustomization.write_text(text.replace("# components:\n#   - components/strimzi-tls\n",
                                          "components:\n  - components/strimzi-tls\n"))
    built = kustomize_build(tools, copy)
    assert built.returncode == 0, built.stderr
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(built.stdout)
    proc = validate(kubeconform, rendered)
    assert proc.returncode == 0, proc.stdout
    resources = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    (configmap,) = [d for d in resources if d["kind"] == "ConfigMap"]
    for name in configmap["data"]:
        setting_field(name)
    for key, value in configmap["data"].items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    cafile = settings.kafka.ssl_cafile
    assert settings.kafka.security_protocol == "SASL_SSL" and cafile is not None
    deployments = [d for d in resources if d["kind"] == "Deployment"]
    assert len(deployments) == len(EXPECTED_COMPONENTS)
    for deployment in deployments:
        (mount,) = [m for m in container(deployment)["volumeMounts"] if m["name"] == "kafka-ca"]
        assert cafile.parent == Path(mount["mountPath"]) and mount["readOnly"] is True
        (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "kafka-ca"]
        assert volume["secret"]["items"] == [{"key": cafile.name, "path": cafile.name}]


# --- agreement with the settings model --------------------------------------------------------


def setting_field(name: str) -> Any:
    """The settings field an environment variable name sets, or ValueError naming what is unknown."""
    if not name.startswith("STREAMER_"):
        raise ValueError(f"{name}: not a STREAMER_ variable")
    parts = name.removeprefix("STREAMER_").lower().split("__")
    model: type[BaseModel] = Settings
    field = None
    for depth, part in enumerate(parts):
        if part not in model.model_fields:
            raise ValueError(f"{name}: {part!r} is not a field of {model.__name__}")
        field = model.model_fields[part]
        annotation = field.annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise ValueError(f"{name}: {part!r} is not a section")
            model = annotation
    if field is None or (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
        raise ValueError(f"{name}: names a whole section, not a field")
    return field


def variable_names() -> dict[str, set[str]]:
    """Every STREAMER_* name the manifests set, with the files that set it."""
    found: dict[str, set[str]] = {}
    for path in MANIFESTS:
        for doc in documents(path):
            names: list[str] = []
            if doc["kind"] == "ConfigMap":
                names += list(doc["data"])
            if doc["kind"] in {"Deployment", "Job"}:
                names += [e["name"] for e in container(doc).get("env", [])]
            for name in names:
                found.setdefault(name, set()).add(path.name)
    return found


def test_every_streamer_variable_in_the_manifests_is_a_setting() -> None:
    names = variable_names()
    assert len(names) > 20
    problems = []
    for name in sorted(names):
        try:
            setting_field(name)
        except ValueError as exc:
            problems.append(f"{exc} (in {', '.join(sorted(names[name]))})")
    assert not problems, problems


@pytest.mark.parametrize("typo", ["STREAMER_SNK__BATCH_SIZE", "STREAMER_SINK__BACH_SIZE", "STREAMER_SINK",
                                  "STREAMER_KAFKA__SASL_PASSWORD__X"])
def test_a_misspelt_variable_is_caught(typo: str) -> None:
    """The check above is not vacuous: a wrong section or field is named."""
    with pytest.raises(ValueError, match=typo):
        setting_field(typo)


def test_secrets_come_from_the_secret_and_only_there() -> None:
    """No secret field in the ConfigMap; every secretKeyRef names a key of the example Secret
    (the one list of keys to create), of the Secret the docs name."""
    (configmap,) = of_kind("ConfigMap").values()
    for name in configmap["data"]:
        assert setting_field(name).annotation not in (SecretStr, SecretStr | None), name
    (secret,) = of_kind("Secret").values()
    keys = set(secret["stringData"])
    used = set()
    for workload in workloads().values():
        for env in container(workload).get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == secret["metadata"]["name"]
                assert "SecretStr" in str(setting_field(env["name"]).annotation), env["name"]
                used.add(ref["key"])
    assert used == keys
    assert all("CHANGE-ME" in value for value in secret["stringData"].values())


def environment(workload: dict[str, Any]) -> dict[str, str]:
    """What the pod's process sees: the ConfigMap, then its own env (secrets: the example's values)."""
    (configmap,) = of_kind("ConfigMap").values()
    (secret,) = of_kind("Secret").values()
    c = container(workload)
    (source,) = c["envFrom"]
    assert source["configMapRef"]["name"] == configmap["metadata"]["name"]
    env = dict(configmap["data"])
    for item in c.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        env[item["name"]] = secret["stringData"][ref["key"]] if ref else item["value"]
    return env


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("STREAMER_"):
            monkeypatch.delenv(key)


@pytest.mark.parametrize("name", sorted(EXPECTED_COMPONENTS) + ["streamer-migrate"])
def test_each_workloads_environment_loads_into_the_settings(name: str, monkeypatch: pytest.MonkeyPatch,
                                                            clean_env: None) -> None:
    """The real loader accepts it (a wrong value or an unknown field fails here) and the pod runs
    the components it is named for, listening on every interface at the port the manifest opens."""
    workload = workloads()[name]
    for key, value in environment(workload).items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.run.components == EXPECTED_COMPONENTS.get(name, ())
    assert settings.http.host == "0.0.0.0"
    if name in EXPECTED_COMPONENTS:
        (port,) = container(workload)["ports"]
        assert port == {"name": "http", "containerPort": settings.http.port}
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(settings.http.port)
        grace = workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert settings.run.shutdown_grace_seconds < grace
    if "capture" in settings.run.components:
        assert settings.source.dsn.get_secret_value().startswith("postgresql://")
    if "sink" in settings.run.components:
        assert settings.destination.service_key is not None
        assert workload["spec"]["replicas"] <= settings.kafka.partitions
    if "webhook" in settings.run.components:
        assert settings.webhook.jwt_secret is not None
    if name == "streamer-migrate":
        assert container(workload)["args"] == ["streamer", "db", "migrate", "--target", "both"]
        assert settings.destination.dsn is not None


def test_a_bad_value_in_the_configmap_fails_the_load(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    """The load above can fail: the same environment with one wrong value is refused, by name."""
    env = environment(workloads()["streamer-sink"]) | {"STREAMER_KAFKA__SECURITY_PROTOCOL": "SASL_PLAIN"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match="STREAMER_KAFKA__SECURITY_PROTOCOL"):
        load_settings()


# --- probes, services, budgets -----------------------------------------------------------------


def served_paths() -> set[str]:
    app = http_app(Metrics(), [], alive=lambda: True)
    return {route.path for route in app.routes}  # type: ignore[attr-defined]


def test_probes_ask_what_the_service_serves() -> None:
    """Liveness /healthz, readiness /readyz, both on the named port; the capture's readiness is
    /healthz, since its standby is alive but never 'ready' (docs/deployment.md, Health, readiness, metrics)."""
    paths = served_paths()
    for name, deployment in of_kind("Deployment").items():
        c = container(deployment)
        live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
        assert live == {"path": "/healthz", "port": "http"}, name
        expected = "/healthz" if name == "streamer-capture" else "/readyz"
        assert ready == {"path": expected, "port": "http"}, name
        assert {live["path"], ready["path"]} <= paths
        assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] in paths


def selects(selector: dict[str, str], deployment: dict[str, Any]) -> bool:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return all(labels.get(k) == v for k, v in selector.items())


def test_services_and_budgets_select_their_deployment() -> None:
    deployments = of_kind("Deployment")
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in of_kind(kind).items():
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector) if kind == "PodDisruptionBudget" else selector
            matched = [n for n, d in deployments.items() if selects(selector, d)]
            assert matched == [name], (kind, name, matched)
    for name, service in of_kind("Service").items():
        (port,) = service["spec"]["ports"]
        assert port["targetPort"] == "http", name
    budgets = of_kind("PodDisruptionBudget")
    assert {"streamer-capture", "streamer-sink", "streamer-webhook"} <= set(budgets)
    for name, budget in budgets.items():
        replicas = deployments[name]["spec"]["replicas"]
        floor = budget["spec"].get("minAvailable", replicas - budget["spec"].get("maxUnavailable", 0))
        assert floor < replicas, f"{name}: the budget would block every voluntary eviction"


def test_capture_runs_a_leader_and_a_standby() -> None:
    """Two replicas, rolled one at a time with a surge, never both gone (the lock picks the leader)."""
    capture = of_kind("Deployment")["streamer-capture"]
    assert capture["spec"]["replicas"] == 2
    assert capture["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert of_kind("PodDisruptionBudget")["streamer-capture"]["spec"] == {
        "minAvailable": 1, "selector": {"matchLabels": capture["spec"]["selector"]["matchLabels"]}}


def test_the_ingress_routes_the_webhooks_path_only() -> None:
    (ingress,) = of_kind("Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == WebhookSettings().path and path["pathType"] == "Exact"
    assert path["backend"]["service"] == {"name": "streamer-webhook", "port": {"name": "http"}}
    assert re.fullmatch(r"[a-z0-9.-]+", rule["host"])
