"""Metrics over HTTP through the official SDK's session: `/rrd_updates` parsed
the way the SDK guide's example parses it (rrdtool's xport XML: legend
entries, then rows of `<t>` and `<v>`), its JSON form, the full dumps, and
the data-source calls."""

import json
import urllib.error
import urllib.request
import xml.dom.minidom

import pytest
import XenAPI
from conftest import Sim

CLOCK = 1_780_000_000


@pytest.fixture(scope="module")
def msim():
    s = Sim("--time-scale", "0", "--metrics-clock", str(CLOCK))
    yield s
    s.stop()


def get(url, accept=None):
    req = urllib.request.Request(url)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req) as r:
        return r.status, r.headers, r.read().decode()


class RRDUpdates:
    """The SDK guide's parser: meta, legend, then the rows, newest first."""

    def __init__(self, text):
        dom = xml.dom.minidom.parseString(text)

        def meta(tag):
            return int(dom.getElementsByTagName("meta")[0].getElementsByTagName(tag)[0].firstChild.data)

        self.start, self.step, self.end = meta("start"), meta("step"), meta("end")
        self.rows, self.columns = meta("rows"), meta("columns")
        self.legend = [e.firstChild.data for e in dom.getElementsByTagName("entry")]
        self.data = []
        for row in dom.getElementsByTagName("row"):
            t = int(row.getElementsByTagName("t")[0].firstChild.data)
            values = [float(v.firstChild.data) for v in row.getElementsByTagName("v")]
            self.data.append((t, values))

    def series(self, cf, kind, uuid, name):
        i = self.legend.index(f"{cf}:{kind}:{uuid}:{name}")
        return [(t, values[i]) for t, values in self.data]


def test_rrd_updates_parse_as_the_sdk_guide_does(msim):
    s = msim.session()
    x = s.xenapi
    web01 = x.VM.get_by_name_label("web01")[0]
    vm_uuid = x.VM.get_uuid(web01)
    host = x.VM.get_resident_on(web01)
    host_uuid = x.host.get_uuid(host)
    address = x.host.get_address(host)
    url = f"http://{address}:{msim.port}/rrd_updates?session_id={s._session}&start={CLOCK - 300}&host=true"
    status, headers, text = get(url, accept="text/xml")
    assert status == 200 and headers["Content-Type"] == "text/xml"
    u = RRDUpdates(text)
    assert (u.step, u.end, u.start) == (5, CLOCK, CLOCK - 295)
    assert u.rows == len(u.data) == 61 and u.columns == len(u.legend)
    assert [t for t, _ in u.data] == list(range(CLOCK, CLOCK - 301, -5))
    assert u.legend[0] == f"AVERAGE:host:{host_uuid}:cpu_avg"
    cpu = u.series("AVERAGE", "vm", vm_uuid, "cpu0")
    assert all(0 <= v <= 1 for _, v in cpu) and len({v for _, v in cpu}) > 1
    memory = int(x.VM_metrics.get_memory_actual(x.VM.get_metrics(web01)))
    assert {v for _, v in u.series("AVERAGE", "vm", vm_uuid, "memory")} == {memory}
    # The latest row is what query_data_source answers.
    assert cpu[0][1] == pytest.approx(float(x.VM.query_data_source(web01, "cpu0")), rel=1e-12)
    # Only this host's VMs: db01 runs elsewhere.
    db01 = x.VM.get_uuid(x.VM.get_by_name_label("db01")[0])
    assert not any(f":{db01}:" in e for e in u.legend)


def test_archives_json_and_filters(msim):
    s = msim.session()
    x = s.xenapi
    web01 = x.VM.get_by_name_label("web01")[0]
    vm_uuid = x.VM.get_uuid(web01)
    address = x.host.get_address(x.VM.get_resident_on(web01))
    base = f"http://{address}:{msim.port}/rrd_updates?session_id={s._session}"
    # A day back needs the hourly archive; a week and a day, the daily one.
    u = RRDUpdates(get(f"{base}&start={CLOCK - 86400}&vm_uuid={vm_uuid}", accept="text/xml")[2])
    assert u.step == 3600 and u.rows == 24
    assert {e.split(":")[2] for e in u.legend} == {vm_uuid}
    u = RRDUpdates(get(f"{base}&start={CLOCK - 8 * 86400}&vm_uuid={vm_uuid}", accept="text/xml")[2])
    assert u.step == 86400
    # The host keeps MIN and MAX; with cf=MAX only those.
    u = RRDUpdates(get(f"{base}&start=-3600&host=true&cf=MAX&vm_uuid=none", accept="text/xml")[2])
    assert u.step == 60 and u.legend and all(e.startswith("MAX:host:") for e in u.legend)
    # JSON: by the json parameter, or by Accept (*/* prefers JSON).
    status, headers, text = get(f"{base}&start=-10&json")
    doc = json.loads(text)
    assert headers["Content-Type"] == "application/json"
    assert doc["meta"]["step"] == "5" and doc["meta"]["rows"] == "3"
    assert len(doc["data"][0]["values"]) == int(doc["meta"]["columns"]) == len(doc["meta"]["legend"])
    assert json.loads(get(f"{base}&start=-10", accept="*/*")[2])["meta"]["step"] == "5"
    with pytest.raises(urllib.error.HTTPError) as e:
        get(base)
    assert e.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as e:
        get(f"http://{address}:{msim.port}/rrd_updates?start=0")
    assert e.value.code == 401


def test_full_dumps_and_redirects(msim):
    s = msim.session()
    x = s.xenapi
    master = x.pool.get_master(x.pool.get_all()[0])
    db01 = x.VM.get_by_name_label("db01")[0]
    assert x.VM.get_resident_on(db01) != master
    port = msim.port
    status, headers, text = get(f"{msim.url}host_rrd?session_id={s._session}", accept="text/xml")
    dom = xml.dom.minidom.parseString(text)
    assert dom.getElementsByTagName("lastupdate")[0].firstChild.data == str(CLOCK)
    assert len(dom.getElementsByTagName("rra")) == 10
    # A VM running on another host: xapi sends the client there.
    req = urllib.request.Request(f"{msim.url}vm_rrd?session_id={s._session}&uuid={x.VM.get_uuid(db01)}")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.build_opener(NoRedirect).open(req)
    address = x.host.get_address(x.VM.get_resident_on(db01))
    assert e.value.code == 302 and e.value.headers["Location"].startswith(f"https://{address}/vm_rrd?")
    # Asked of its host, the dump is there: four AVERAGE archives.
    doc = json.loads(get(f"http://{address}:{port}/vm_rrd?session_id={s._session}&uuid={x.VM.get_uuid(db01)}&json")[2])
    assert [r["cf"] for r in doc["rra"]] == ["AVERAGE"] * 4
    assert [len(r["database"]) for r in doc["rra"]] == [120, 120, 168, 366]


def test_data_source_calls(msim):
    x = msim.session().xenapi
    web01 = x.VM.get_by_name_label("web01")[0]
    sources = {d["name_label"]: d for d in x.VM.get_data_sources(web01)}
    assert sources["vif_0_rx_errors"]["enabled"] is False and sources["vif_0_rx_errors"]["standard"] is False
    assert sources["cpu0"]["units"] == "(fraction)" and sources["cpu0"]["max"] == 1.0
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.query_data_source(web01, "vif_0_rx_errors")
    assert e.value.details[0] == "INTERNAL_ERROR" and "Invalid_data_source" in e.value.details[1]
    x.VM.record_data_source(web01, "vif_0_rx_errors")
    assert float(x.VM.query_data_source(web01, "vif_0_rx_errors")) == 0.0
    x.VM.forget_data_source_archives(web01, "vif_0_rx_errors")
    with pytest.raises(XenAPI.Failure):
        x.VM.query_data_source(web01, "vif_0_rx_errors")
    host = x.VM.get_resident_on(web01)
    total = float(x.host.query_data_source(host, "memory_total_kib"))
    assert total * 1024 == int(x.host_metrics.get_memory_total(x.host.get_metrics(host)))
    halted = x.VM.get_by_name_label("test-halted")[0]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.get_data_sources(halted)
    assert e.value.details[0] == "VM_BAD_POWER_STATE"


def test_perfmon_raises_an_alarm_for_a_vm_past_its_cpu_level():
    """other_config:perfmon as xapi's perfmon reads it: a VM whose CPU has
    been over the level for the trigger period gets one ALARM message with
    perfmon's body, and no second one within the inhibit period."""
    import time
    from conftest import Sim
    sim = Sim("--time-scale", "0", "--perfmon-interval", "1")
    try:
        x = sim.session().xenapi
        vm = next(v for v, r in x.VM.get_all_records().items()
                  if r["power_state"] == "Running" and not r["is_control_domain"])
        uuid = x.VM.get_uuid(vm)
        config = ('<config><variable><name value="cpu_usage"/><alarm_trigger_level value="0.0"/>'
                  '<alarm_trigger_period value="120"/></variable></config>')
        x.VM.add_to_other_config(vm, "perfmon", config)
        alarms = []
        for _ in range(100):
            alarms = [m for m in x.message.get_all_records().values()
                      if m["name"] == "ALARM" and m["obj_uuid"] == uuid]
            if alarms:
                break
            time.sleep(0.1)
        assert len(alarms) == 1, alarms
        m = alarms[0]
        assert m["cls"] == "VM" and int(m["priority"]) == 3
        body = m["body"]
        assert body.startswith("value: ") and "\nconfig:\n<variable>\n\t<name value=\"cpu_usage\"/>\n" in body
        time.sleep(2.5)
        again = [m for m in x.message.get_all_records().values() if m["name"] == "ALARM" and m["obj_uuid"] == uuid]
        assert len(again) == 1, "inhibited for an hour"
    finally:
        sim.stop()
