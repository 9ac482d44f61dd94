"""host.get_servertime (UTC, `Z`) and host.get_server_localtime (no zone)."""

import calendar
import re
import time
import xmlrpc.client

from test_wire import jcall, login_json


def test_servertime_is_an_xmlrpc_datetime_ending_in_z(session):
    x = session.xenapi
    host = x.host.get_all()[0]
    t = x.host.get_servertime(host)
    assert isinstance(t, xmlrpc.client.DateTime)
    assert re.fullmatch(r"\d{8}T\d\d:\d\d:\d\dZ", t.value), t.value
    secs = calendar.timegm(time.strptime(t.value, "%Y%m%dT%H:%M:%SZ"))
    assert abs(secs - time.time()) < 5


def test_server_localtime_has_no_zone(session):
    x = session.xenapi
    t = x.host.get_server_localtime(x.host.get_all()[0])
    assert isinstance(t, xmlrpc.client.DateTime)
    assert re.fullmatch(r"\d{8}T\d\d:\d\d:\d\d", t.value), t.value


def test_servertime_over_jsonrpc_is_a_string(sim):
    session = login_json(sim)
    host = jcall(sim, "host.get_all", [session])["result"][0]
    r = jcall(sim, "host.get_servertime", [session, host])
    assert re.fullmatch(r"\d{8}T\d\d:\d\d:\d\dZ", r["result"]), r
