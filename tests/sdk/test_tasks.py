"""Async calls, task records and task.cancel."""

import xmlrpc.client

import pytest
import XenAPI
from conftest import wait_for


def test_async_call_creates_task_with_result(session):
    x = session.xenapi
    task = x.Async.network.create({"name_label": "async-net", "name_description": "", "MTU": "1500",
                                   "other_config": {}})
    assert task.startswith("OpaqueRef:")
    assert wait_for(lambda: x.task.get_status(task) != "pending")
    rec = x.task.get_record(task)
    assert rec["status"] == "success"
    assert rec["progress"] == 1.0
    assert rec["name_label"] == "Async.network.create"
    # xapi stores the XML-RPC encoding of the result.
    assert rec["result"].startswith("<value>OpaqueRef:")
    net = rec["result"][len("<value>"):-len("</value>")]
    assert x.network.get_name_label(net) == "async-net"
    x.task.destroy(task)
    x.network.destroy(net)


def test_async_failure_sets_error_info(session):
    x = session.xenapi
    task = x.Async.VM.destroy("OpaqueRef:00000000-0000-0000-0000-000000000000")
    assert wait_for(lambda: x.task.get_status(task) != "pending")
    assert x.task.get_status(task) == "failure"
    assert x.task.get_error_info(task)[0] == "HANDLE_INVALID"


def test_getters_have_no_async_form(session):
    with pytest.raises(XenAPI.Failure) as e:
        session.xenapi.Async.VM.get_all()
    assert e.value.details[0] == "MESSAGE_METHOD_UNKNOWN"


def test_task_create_and_cancel(session):
    x = session.xenapi
    t = x.task.create("client task", "made by the sdk test")
    assert x.task.get_status(t) == "pending"
    assert "cancel" in x.task.get_allowed_operations(t)
    x.task.cancel(t)
    assert x.task.get_status(t) == "cancelling"
    with pytest.raises(XenAPI.Failure) as e:
        x.task.cancel(t)
    assert e.value.details[0] == "OPERATION_NOT_ALLOWED"
    x.task.destroy(t)
