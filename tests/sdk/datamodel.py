"""The datamodel's facts for checking records: from ../shared when present,
otherwise from the project's generated schema."""

import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "reference", "xenapi-datamodel.json")
GENERATED = os.path.join(ROOT, "crates", "xenapi", "src", "model", "generated.rs")


def _load():
    classes, enums = {}, {}
    if os.path.exists(SHARED):
        for c in json.load(open(SHARED)):
            classes[c["name"]] = {f["name"]: (f["type"], f["qualifier"]) for f in c["fields"]}
            for e in c["enums"]:
                enums[e["name"]] = [v["name"] for v in e["values"]]
        return classes, enums
    text = open(GENERATED).read()
    for block in re.finditer(r'ClassDef \{\s*name: "(\w+)",\s*fields: &\[(.*?)\],\s*messages', text, re.S):
        fields = re.findall(r'FieldDef \{ name: "(\w+)", ty: "([^"]*)", qualifier: Qualifier::(\w+)', block.group(2))
        q = {"Rw": "RW", "RoConstructor": "RO/constructor", "RoRuntime": "RO/runtime"}
        classes[block.group(1)] = {n: (t, q[k]) for n, t, k in fields}
    for m in re.finditer(r'EnumDef \{ name: "(\w+)", values: &\[(.*?)\] \}', text):
        enums[m.group(1)] = re.findall(r'"([^"]*)"', m.group(2))
    return classes, enums


CLASSES, ENUMS = _load()
