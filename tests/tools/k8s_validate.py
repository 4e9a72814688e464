#!/usr/bin/env python3
"""Validate Kubernetes manifests offline, the way a strict API server would.

There is no API server in the test environment, so this checks rendered
objects (operator output, Helm templates, CRDs, example custom resources)
against published schemas instead:

* built-in kinds, including CustomResourceDefinitions themselves, with
  PyPI ``kubernetes-validate`` in strict mode (wrong types and unknown fields
  are errors) for the given Kubernetes version;
* custom resources with ``jsonschema`` against the ``openAPIV3Schema`` of the
  matching CRD (group, kind and served version) found in ``--crds DIR``.
  Kubernetes' structural-schema extensions are translated first: ``nullable``
  allows null, ``x-kubernetes-int-or-string`` allows integer or string,
  ``x-kubernetes-preserve-unknown-fields`` keeps unknown fields, and every other
  object schema rejects unknown fields (what ``kubectl apply --validate=strict``
  reports). CEL rules (``x-kubernetes-validations``) are not evaluated.
  Objects of the ``otelhouse.dev`` group must have a CRD in DIR.

``metadata.name`` is required on every object; ``kind: List`` documents are
checked item by item. An object whose kind has no schema fails.

Usage: python3 k8s_validate.py --k8s-version 1.33.0 [--crds DIR] [FILE ...]
(no FILE, or ``-``: read standard input). Prints
``FAIL <kind> <namespace/name>: <path>: <message> [<file> doc <n>]`` per failing
object and ``k8s_validate: N passed, M failed``; exits 1 if any failed, 2 on a
usage or setup error.
"""

import argparse
import functools
import re
import sys
from pathlib import Path

try:
    import jsonschema
    import kubernetes_validate
    import kubernetes_validate.utils
    import yaml
except ImportError as err:
    print(f"k8s_validate: {err}; install with: pip install -r tests/tools/requirements.txt "
          "(kubernetes-validate, jsonschema, PyYAML)", file=sys.stderr)
    sys.exit(2)

OWN_GROUP = "otelhouse.dev"

# kubernetes-validate re-reads its 1.4 MB definitions file on every call; read each file once.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents)

# Root fields the API server handles for every custom resource; metadata is checked loosely.
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
ROOT_FIELDS = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": STRING_MAP,
            "annotations": STRING_MAP,
        },
    },
}


class SetupError(Exception):
    """Bad arguments, unreadable CRDs or an unsupported Kubernetes version: exit 2."""


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML as Kubernetes reads it: timestamps stay strings, a bare ``=`` is a string."""


def _scalar_as_string(loader, node):
    return loader.construct_scalar(node)


Loader.add_constructor("tag:yaml.org,2002:timestamp", _scalar_as_string)
Loader.add_constructor("tag:yaml.org,2002:value", _scalar_as_string)


def structural_to_jsonschema(node, structural=True):
    """Translate a Kubernetes structural schema node into plain JSON Schema.

    ``structural`` is False inside anyOf/oneOf/allOf/not, whose branches only
    add value checks: they must not reject fields the main schema declares.
    """
    node = {k: v for k, v in node.items()
            if not k.startswith("x-kubernetes-") or k in (
                "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields")}
    nullable = node.pop("nullable", False)
    preserve = node.pop("x-kubernetes-preserve-unknown-fields", False)
    if node.pop("x-kubernetes-int-or-string", False):
        node["type"] = ["integer", "string"]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), bool):  # OpenAPI 3.0 style flag
            if node.pop(bound) and limit in node:
                node[bound] = node.pop(limit)

    if "properties" in node:
        node["properties"] = {k: structural_to_jsonschema(v) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        node["items"] = structural_to_jsonschema(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = structural_to_jsonschema(node["additionalProperties"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            node[key] = [structural_to_jsonschema(branch, structural=False) for branch in node[key]]
    if "not" in node:
        node["not"] = structural_to_jsonschema(node["not"], structural=False)

    is_object = node.get("type") == "object" or "properties" in node
    if structural and is_object and not preserve and "additionalProperties" not in node:
        node["additionalProperties"] = False

    if nullable:  # null skips every other check, as in the API server
        if "type" not in node or any(k in node for k in ("anyOf", "oneOf", "allOf", "not")):
            return {"anyOf": [{"type": "null"}, node]}
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        node["type"] = types + ["null"]
        if "enum" in node and None not in node["enum"]:
            node["enum"] = node["enum"] + [None]
    return node


class CustomResources:
    """Validators for the CRDs in a directory, built once per (group, kind, version)."""

    def __init__(self, crd_dir):
        self.crds = {}
        self.validators = {}
        if crd_dir is None:
            return
        directory = Path(crd_dir)
        if not directory.is_dir():
            raise SetupError(f"--crds {crd_dir}: not a directory")
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            try:
                docs = list(yaml.load_all(path.read_text(), Loader=Loader))
            except (OSError, yaml.YAMLError) as err:
                raise SetupError(f"{path}: {err}") from err
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    spec = doc.get("spec") or {}
                    key = (spec.get("group"), (spec.get("names") or {}).get("kind"))
                    self.crds[key] = (path, spec)

    def has(self, group, kind):
        return (group, kind) in self.crds

    def validator(self, group, kind, version):
        """The validator for a served version, or an error message."""
        key = (group, kind, version)
        if key not in self.validators:
            self.validators[key] = self._build(group, kind, version)
        return self.validators[key]

    def _build(self, group, kind, version):
        if (group, kind) not in self.crds:
            return f"no CustomResourceDefinition for {kind}.{group} in --crds"
        path, spec = self.crds[(group, kind)]
        for entry in spec.get("versions") or []:
            if entry.get("name") == version and entry.get("served", True):
                schema = (entry.get("schema") or {}).get("openAPIV3Schema")
                if not isinstance(schema, dict):
                    raise SetupError(f"{path}: version {version} has no schema.openAPIV3Schema")
                schema = structural_to_jsonschema(schema)  # builds new dicts
                schema.setdefault("properties", {}).update(ROOT_FIELDS)
                try:
                    jsonschema.Draft202012Validator.check_schema(schema)
                except jsonschema.SchemaError as err:
                    raise SetupError(f"{path}: version {version}: invalid schema: {err.message}") from err
                return jsonschema.Draft202012Validator(schema)
        return f"version {version} of {kind}.{group} is not served by its CRD ({path.name})"


def json_path(path):
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "."


def describe(error):
    """`path: message` for a jsonschema error, with unknown fields named like kubectl does."""
    path = json_path(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        unknown = [k for k in error.instance
                   if k not in known and not any(re.search(p, k) for p in patterns)]
        prefix = "" if path == "." else path + "."
        return ", ".join(f'unknown field "{prefix}{k}"' for k in unknown) or error.message
    return f"{path}: {error.message}"


class Checker:
    def __init__(self, k8s_version, custom):
        self.version = k8s_version
        self.custom = custom
        self.passed = 0
        self.failed = 0
        try:  # fails early on a version kubernetes-validate does not ship
            kubernetes_validate.validate(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"}},
                k8s_version, strict=True)
        except (kubernetes_validate.utils.VersionNotSupportedError, IndexError) as err:
            raise SetupError(f"kubernetes-validate {kubernetes_validate.__version__} has no schemas "
                             f"for Kubernetes {k8s_version}") from err

    def check_stream(self, text, source):
        try:
            docs = list(yaml.load_all(text, Loader=Loader))
        except yaml.YAMLError as err:
            self._fail("YAML", source, str(err).replace("\n", " "), source, 0)
            return
        for index, doc in enumerate(docs, start=1):
            if doc is not None:
                self.check_object(doc, source, index)

    def check_object(self, obj, source, index):
        if not isinstance(obj, dict):
            return self._fail("-", "-", "document is not a mapping", source, index)
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind == "List" and isinstance(obj.get("items"), list):
            for item in obj["items"]:
                self.check_object(item, source, index)
            return None
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        name = str(meta.get("name") or "-")
        if meta.get("namespace"):
            name = f"{meta['namespace']}/{name}"
        if not isinstance(kind, str) or not isinstance(api_version, str):
            return self._fail(kind, name, "apiVersion and kind are required strings", source, index)
        if not meta.get("name"):
            return self._fail(kind, name, "metadata.name: required", source, index)
        problem = self._problem(obj, kind, api_version)
        if problem:
            return self._fail(kind, name, problem, source, index)
        self.passed += 1
        return None

    def _problem(self, obj, kind, api_version):
        group, _, version = api_version.rpartition("/")
        if group == OWN_GROUP or self.custom.has(group, kind):
            validator = self.custom.validator(group, kind, version)
            if isinstance(validator, str):
                return validator
            error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
            return describe(error) if error else None
        try:
            kubernetes_validate.validate(obj, self.version, strict=True)
        except kubernetes_validate.ValidationError as err:
            return describe(err)
        except kubernetes_validate.SchemaNotFoundError:
            return f"no schema for {kind} {api_version} in Kubernetes {self.version}"
        return None

    def _fail(self, kind, name, message, source, index):
        self.failed += 1
        where = f"{source} doc {index}" if index else source
        print(f"FAIL {kind} {name}: {message} [{where}]", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k8s-version", required=True, help="Kubernetes version, e.g. 1.33.0")
    parser.add_argument("--crds", metavar="DIR", help="directory of CustomResourceDefinition *.yaml files")
    parser.add_argument("files", nargs="*", metavar="FILE", help="multi-document YAML; none or - reads stdin")
    args = parser.parse_args()
    try:
        checker = Checker(args.k8s_version, CustomResources(args.crds))
        for name in args.files or ["-"]:
            if name == "-":
                checker.check_stream(sys.stdin.read(), "<stdin>")
                continue
            try:
                text = Path(name).read_text()
            except OSError as err:
                raise SetupError(f"{name}: {err.strerror}") from err
            checker.check_stream(text, name)
    except SetupError as err:
        print(f"k8s_validate: {err}", file=sys.stderr)
        return 2
    print(f"k8s_validate: {checker.passed} passed, {checker.failed} failed")
    return 1 if checker.failed else 0


if __name__ == "__main__":
    sys.exit(main())
