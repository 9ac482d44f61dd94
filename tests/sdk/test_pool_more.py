"""The pool's single calls of issue 13 through the official SDK: the
telemetry UUID, the vSwitch controller, the redo log, local storage
caching, Workload Balancing without a server, test posts and the calls
this datamodel lacks."""

import os
import re
import tempfile
import urllib.request

import pytest
import XenAPI
from conftest import Sim

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NULL = "OpaqueRef:NULL"


def failure(call, *args):
    with pytest.raises(XenAPI.Failure) as e:
        call(*args)
    return e.value.details


def test_telemetry_uuid_is_a_new_secret_each_time(fresh_sim):
    x = fresh_sim.session().xenapi
    pool = x.pool.get_all()[0]
    assert x.pool.get_telemetry_uuid(pool) == NULL
    secrets = set(x.secret.get_all())
    x.pool.reset_telemetry_uuid(pool)
    first = x.pool.get_telemetry_uuid(pool)
    assert set(x.secret.get_all()) == secrets | {first}
    assert UUID.match(x.secret.get_value(first))
    x.pool.reset_telemetry_uuid(pool)
    second = x.pool.get_telemetry_uuid(pool)
    assert second != first
    assert set(x.secret.get_all()) == secrets | {second}
    assert failure(x.pool.reset_telemetry_uuid, "OpaqueRef:nope")[0] == "HANDLE_INVALID"


def test_vswitch_controller_replaces_the_sdn_controller(fresh_sim):
    x = fresh_sim.session().xenapi
    pool = x.pool.get_all()[0]
    assert failure(x.pool.set_vswitch_controller, "nowhere") == ["INVALID_IP_ADDRESS_SPECIFIED", "address"]
    x.pool.set_vswitch_controller("192.0.2.50")
    assert x.pool.get_vswitch_controller(pool) == "192.0.2.50"
    [c] = x.SDN_controller.get_all_records().values()
    assert (c["protocol"], c["address"], c["port"]) == ("ssl", "192.0.2.50", "6632")
    x.pool.set_vswitch_controller("192.0.2.51")
    [c] = x.SDN_controller.get_all_records().values()
    assert c["address"] == "192.0.2.51"
    x.pool.set_vswitch_controller("")
    assert x.SDN_controller.get_all() == []
    assert x.pool.get_vswitch_controller(pool) == ""


def test_redo_log_on_a_shared_sr(fresh_sim):
    x = fresh_sim.session().xenapi
    pool = x.pool.get_all()[0]
    nfs = x.SR.get_by_name_label("NFS virtual disk storage")[0]
    x.pool.enable_redo_log(nfs)
    assert x.pool.get_redo_log_enabled(pool) is True
    vdi = x.pool.get_redo_log_vdi(pool)
    rec = x.VDI.get_record(vdi)
    assert (rec["type"], rec["SR"], rec["sharable"], rec["name_label"]) == ("redo_log", nfs, True, "Metadata redo-log")
    assert int(rec["virtual_size"]) >= 3988783104
    assert rec["sm_config"]["type"] == "raw"
    # Enabled again: the same VDI.
    x.pool.enable_redo_log(nfs)
    assert x.pool.get_redo_log_vdi(pool) == vdi
    x.pool.disable_redo_log()
    assert x.pool.get_redo_log_enabled(pool) is False
    assert x.VDI.get_type(vdi) == "redo_log"


def test_redo_log_needs_every_host(fresh_sim):
    x = fresh_sim.session().xenapi
    pool = x.pool.get_all()[0]
    host = x.host.get_by_name_label("xs-host-1")[0]
    local = [sr for sr in x.SR.get_by_name_label("Local storage")
             if x.PBD.get_host(x.SR.get_PBDs(sr)[0]) == host][0]
    assert failure(x.pool.enable_redo_log, local) == ["CANNOT_ENABLE_REDO_LOG", "failed to make VDI static."]
    assert x.pool.get_redo_log_enabled(pool) is False
    assert x.pool.get_redo_log_vdi(pool) == NULL
    assert [x.VDI.get_type(v) for v in x.SR.get_VDIs(local)].count("redo_log") == 1
    assert failure(x.pool.enable_redo_log, "OpaqueRef:nope")[0] == "HANDLE_INVALID"


def test_local_storage_caching(fresh_sim):
    x = fresh_sim.session().xenapi
    pool = x.pool.get_all()[0]
    hosts = {x.host.get_name_label(h): h for h in x.host.get_all()}
    h3 = hosts["xs-host-3"]
    details = failure(x.pool.enable_local_storage_caching, pool)
    assert details[0] == "HOSTS_FAILED_TO_ENABLE_CACHING" and sorted(details[1:]) == sorted(hosts.values())
    sr = x.SR.create(h3, {"device": "/dev/sdb"}, "0", "cache", "", "ext", "user", False, {})
    x.host.disable(h3)
    details = failure(x.pool.enable_local_storage_caching, pool)
    assert sorted(details[1:]) == sorted([hosts["xs-host-1"], hosts["xs-host-2"]])
    assert x.host.get_local_cache_sr(h3) == sr
    assert x.SR.get_local_cache_enabled(sr) is True
    details = failure(x.pool.disable_local_storage_caching, pool)
    assert details[0] == "HOSTS_FAILED_TO_DISABLE_CACHING"
    assert x.host.get_local_cache_sr(h3) == NULL
    assert x.SR.get_local_cache_enabled(sr) is False


def test_wlb_without_a_server(fresh_sim):
    x = fresh_sim.session().xenapi
    pool = x.pool.get_all()[0]
    secrets = x.secret.get_all()
    assert failure(x.pool.initialize_wlb, "wlb", "u", "p", "root", "x") == ["WLB_URL_INVALID", "wlb"]
    assert failure(x.pool.initialize_wlb, "wlb.example.com:8012", "u", "p", "root", "x") == ["WLB_UNKNOWN_HOST"]
    assert failure(x.pool.initialize_wlb, "192.0.2.9:8012", "u", "p", "root", "x") == ["WLB_CONNECTION_REFUSED"]
    assert (x.pool.get_wlb_url(pool), x.pool.get_wlb_username(pool)) == ("", "")
    assert x.secret.get_all() == secrets
    for call in (x.pool.deconfigure_wlb, x.pool.retrieve_wlb_configuration, x.pool.retrieve_wlb_recommendations):
        assert failure(call) == ["WLB_NOT_INITIALIZED"]
    assert failure(x.pool.send_wlb_configuration, {"OptimizationMode": "x"}) == ["WLB_NOT_INITIALIZED"]


def test_a_configured_wlb_is_unreachable_and_deconfigured_anyway(fresh_sim):
    s = fresh_sim.session()
    with urllib.request.urlopen(f"{fresh_sim.url}pool/xmldbdump?session_id={s._session}") as r:
        dump = r.read().decode()
    dump = dump.replace('wlb_url=""', 'wlb_url="192.0.2.9:8012"', 1).replace('wlb_username=""', 'wlb_username="wlb"', 1)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "db.xml")
        with open(path, "w") as f:
            f.write(dump)
        other = Sim("--time-scale", "0", "--load", path)
        try:
            x = other.session().xenapi
            pool = x.pool.get_all()[0]
            assert x.pool.get_wlb_url(pool) == "192.0.2.9:8012"
            assert failure(x.pool.retrieve_wlb_configuration) == ["WLB_CONNECTION_REFUSED"]
            assert failure(x.pool.retrieve_wlb_recommendations) == ["WLB_DISABLED"]
            x.pool.deconfigure_wlb()
            assert (x.pool.get_wlb_url(pool), x.pool.get_wlb_username(pool)) == ("", "")
            assert x.pool.get_wlb_enabled(pool) is False
        finally:
            other.stop()


def test_test_posts_reach_no_further_than_loopback(session):
    x = session.xenapi
    assert failure(x.pool.send_test_post, "192.0.2.9", "443", "hello") == ["WLB_TIMEOUT", "30.0"]
    details = failure(x.pool.send_test_post, "127.0.0.1", "1", "hello")
    assert details[0] == "INTERNAL_ERROR"


def test_rotate_secret_checks_and_changes_nothing_visible(session):
    x = session.xenapi
    pool = x.pool.get_all()[0]
    before = x.pool.get_record(pool)
    x.pool.rotate_secret()
    assert x.pool.get_record(pool) == before


@pytest.mark.parametrize("method", ["enable_ssh", "disable_ssh", "get_guest_secureboot_readiness",
                                    "enable_binary_storage", "external_auth_set_ldaps"])
def test_calls_this_datamodel_lacks(session, method):
    details = failure(getattr(session.xenapi.pool, method))
    assert details[0] == "MESSAGE_METHOD_UNKNOWN"
