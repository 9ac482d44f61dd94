"""Records, implicit getters/setters and collection updates through the SDK."""

import re
import xmlrpc.client

import pytest
import XenAPI
from datamodel import CLASSES, ENUMS

CORE = ["VM", "VDI", "VBD", "VIF", "SR", "PBD", "PIF", "network", "host", "pool", "SM",
        "console", "VM_metrics", "host_metrics", "host_cpu"]


def check_type(ty, v, where):
    """Checks a decoded XML-RPC value against a datamodel type string."""
    ty = ty.strip()
    if ty.endswith(" set"):
        assert isinstance(v, list), where
        for x in v:
            check_type(ty[:-4], x, where)
    elif ty.endswith(" map"):
        assert isinstance(v, dict), where
        inner = ty[1:-5]
        depth = 0
        for i, ch in enumerate(inner):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and inner[i:i + 2] == "->":
                vty = inner[i + 2:]
                break
        for x in v.values():
            check_type(vty, x, where)
    elif ty.endswith(" ref"):
        assert isinstance(v, str) and v.startswith("OpaqueRef:"), (where, v)
    elif ty.startswith("enum "):
        assert v in ENUMS[ty[5:]], (where, v)
    elif ty == "int":
        # XML-RPC carries 64-bit ints as strings of digits.
        assert isinstance(v, str) and re.fullmatch(r"-?\d+", v), (where, v)
    elif ty == "float":
        assert isinstance(v, float), (where, v)
    elif ty == "bool":
        assert isinstance(v, bool), (where, v)
    elif ty == "datetime":
        assert isinstance(v, xmlrpc.client.DateTime), (where, v)
        assert re.fullmatch(r"\d{8}T\d\d:\d\d:\d\dZ", v.value), (where, v.value)
    elif ty == "string":
        assert isinstance(v, str), (where, v)


@pytest.mark.parametrize("cls", CORE)
def test_get_all_records_match_the_datamodel(session, cls):
    records = getattr(session.xenapi, cls).get_all_records()
    assert records, f"the demo pool has {cls} objects"
    fields = CLASSES[cls]
    for ref, rec in records.items():
        assert ref.startswith("OpaqueRef:")
        assert set(rec) == set(fields), f"{cls} record fields differ: {set(rec) ^ set(fields)}"
        for name, (ty, _) in fields.items():
            check_type(ty, rec[name], f"{cls}.{name}")


def test_records_and_refs_agree(session):
    x = session.xenapi
    vms = x.VM.get_all()
    records = x.VM.get_all_records()
    assert list(records) == vms
    for ref in vms[:5]:
        rec = x.VM.get_record(ref)
        assert rec == records[ref]
        assert x.VM.get_by_uuid(rec["uuid"]) == ref
        assert x.VM.get_uuid(ref) == rec["uuid"]
        assert ref in x.VM.get_by_name_label(rec["name_label"])


def test_two_way_references_are_consistent(session):
    x = session.xenapi
    for ref, vbd in x.VBD.get_all_records().items():
        assert ref in x.VM.get_VBDs(vbd["VM"])
    for ref, vdi in x.VDI.get_all_records().items():
        assert ref in x.SR.get_VDIs(vdi["SR"])
    for ref, pbd in x.PBD.get_all_records().items():
        assert ref in x.SR.get_PBDs(pbd["SR"])
        assert ref in x.host.get_PBDs(pbd["host"])
    for ref, vm in x.VM.get_all_records().items():
        if vm["power_state"] == "Running":
            assert ref in x.host.get_resident_VMs(vm["resident_on"])


def test_setters_and_map_updates(session):
    x = session.xenapi
    vm = x.VM.get_by_name_label("test-halted")[0]
    x.VM.set_name_description(vm, "changed by sdk")
    assert x.VM.get_name_description(vm) == "changed by sdk"
    x.VM.set_memory_static_max(vm, "4294967296")
    assert x.VM.get_memory_static_max(vm) == "4294967296"
    x.VM.add_to_other_config(vm, "sdk-key", "v1")
    assert x.VM.get_other_config(vm)["sdk-key"] == "v1"
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.add_to_other_config(vm, "sdk-key", "v2")
    assert e.value.details[0] == "MAP_DUPLICATE_KEY"
    assert e.value.details[1:] == ["VM", "other_config", vm, "sdk-key"]
    x.VM.remove_from_other_config(vm, "sdk-key")
    assert "sdk-key" not in x.VM.get_other_config(vm)
    x.VM.add_tags(vm, "blue")
    x.VM.add_tags(vm, "blue")
    assert x.VM.get_tags(vm).count("blue") == 1
    x.VM.remove_tags(vm, "blue")
    assert "blue" not in x.VM.get_tags(vm)
    x.VM.set_other_config(vm, {"a": "1"})
    assert x.VM.get_other_config(vm) == {"a": "1"}


def test_read_only_fields_have_no_setter(session):
    x = session.xenapi
    vm = x.VM.get_all()[0]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.set_power_state(vm, "Running")
    assert e.value.details == ["MESSAGE_METHOD_UNKNOWN", "VM.set_power_state"]


def test_errors_carry_datamodel_parameters(session):
    x = session.xenapi
    bogus = "OpaqueRef:00000000-0000-0000-0000-000000000000"
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.get_record(bogus)
    assert e.value.details == ["HANDLE_INVALID", "VM", bogus]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.get_by_uuid("no-such-uuid")
    assert e.value.details == ["UUID_INVALID", "VM", "no-such-uuid"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.no_such_call()
    assert e.value.details == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_call"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.get_record()
    # Counts leave out session_id: VM.get_record takes one value, none was sent.
    assert e.value.details == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"]
    vm = x.VM.get_all()[0]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.set_VCPUs_at_startup(vm, "many")
    assert e.value.details[0] == "FIELD_TYPE_ERROR"


def test_get_all_records_where(session):
    x = session.xenapi
    running = x.VM.get_all_records_where('field "power_state" = "Running" and field "is_control_domain" = "false"')
    assert running
    assert all(r["power_state"] == "Running" and not r["is_control_domain"] for r in running.values())
    templates = x.VM.get_all_records_where('field "is_a_template" = "true"')
    assert len(templates) >= 20
    everything = x.VM.get_all_records_where("true")
    assert len(everything) == len(x.VM.get_all())
    negated = x.VM.get_all_records_where('not (field "is_a_template" = "true")')
    assert len(negated) + len(templates) == len(everything)
    either = x.VM.get_all_records_where('field "name_label" = "web01" or field "name_label" = "db01"')
    assert sorted(r["name_label"] for r in either.values()) == ["db01", "web01"]


def test_create_and_destroy_keep_references(session):
    x = session.xenapi
    net = x.network.create({"name_label": "sdk-net", "name_description": "", "MTU": "1500", "other_config": {}})
    assert x.network.get_name_label(net) == "sdk-net"
    assert x.network.get_bridge(net).startswith("xapi")  # xapi picks a free xapi<N> bridge
    vm = x.VM.get_by_name_label("test-halted")[0]
    vif = x.VIF.create({"device": "7", "network": net, "VM": vm, "MAC": "", "MTU": "1500",
                        "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    assert vif in x.network.get_VIFs(net)
    assert vif in x.VM.get_VIFs(vm)
    x.VIF.destroy(vif)
    assert vif not in x.VM.get_VIFs(vm)
    with pytest.raises(XenAPI.Failure) as e:
        x.VIF.get_record(vif)
    assert e.value.details[0] == "HANDLE_INVALID"
    x.network.destroy(net)
    with pytest.raises(XenAPI.Failure) as e:
        x.network.create({"name_description": ""})
    assert e.value.details[0] == "FIELD_TYPE_ERROR"
