"""Checks a Kubernetes manifest (multi-document YAML on stdin) against the API's own schema:
every field name and value type of every object, recursively, as the official Python client
(`kubernetes`, generated from the Kubernetes OpenAPI spec) declares them in `openapi_types` and
`attribute_map`, plus the fields the API server requires (the client's non-optional
constructor arguments). Prints one line per problem; exit 1 if any. Used by tests/launch.rs."""
import inspect
import re
import sys

import yaml
from kubernetes import client

KINDS = {("v1", "ConfigMap"): "V1ConfigMap", ("batch/v1", "Job"): "V1Job"}
problems = []


def check_type(value, t, path):
    if t.startswith(("list[", "List[")):
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list ({t}), found {type(value).__name__}")
            return
        for i, v in enumerate(value):
            check_type(v, t[5:-1], f"{path}[{i}]")
    elif t.startswith(("dict(", "Dict[")):
        inner = re.match(r"(?:dict\(str, (.*)\)|Dict\[str, (.*)\])$", t)
        inner = inner.group(1) or inner.group(2)
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map ({t}), found {type(value).__name__}")
            return
        for k, v in value.items():
            check_type(v, inner, f"{path}.{k}")
    elif t == "str":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string, found {type(value).__name__} {value!r}")
    elif t == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected an integer, found {value!r}")
    elif t == "bool":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean, found {value!r}")
    elif t in ("object", "datetime", "float"):
        pass
    else:
        check_model(value, t, path)


def check_model(obj, cls_name, path):
    cls = getattr(client.models, cls_name)
    if not isinstance(obj, dict):
        problems.append(f"{path}: expected an object ({cls_name}), found {type(obj).__name__}")
        return
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for key, value in obj.items():
        if key not in by_json:
            problems.append(f"{path}.{key}: no such field in {cls_name}")
            continue
        check_type(value, cls.openapi_types[by_json[key]], f"{path}.{key}")
    # Required fields: pydantic models (client >= 35) say so per field; older clients raise
    # "Invalid value for `x`, must not be `None`" in the setter.
    fields = getattr(cls, "model_fields", None)
    for attr, json_name in cls.attribute_map.items():
        if fields is not None:
            required = attr in fields and fields[attr].is_required()
        else:
            required = f"`{attr}`, must not be `None`" in inspect.getsource(cls)
        if required and json_name not in obj:
            problems.append(f"{path}: missing required field `{json_name}` of {cls_name}")


docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]
if not docs:
    problems.append("no documents")
for i, d in enumerate(docs):
    key = (d.get("apiVersion"), d.get("kind"))
    if key not in KINDS:
        problems.append(f"document {i}: unexpected apiVersion/kind {key}")
        continue
    check_model(d, KINDS[key], f"{d['kind']}")
for p in problems:
    print(p)
import kubernetes

print(f"checked {len(docs)} documents against the kubernetes client {kubernetes.__version__}")
sys.exit(1 if problems else 0)
