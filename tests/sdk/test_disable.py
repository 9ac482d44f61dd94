"""--disable: methods answer MESSAGE_METHOD_UNKNOWN, as on a server that lacks them."""

import pytest
import XenAPI
from conftest import Sim


def test_disabled_methods_are_unknown():
    sim = Sim("--time-scale", "0", "--disable", "VM.get_all_records_where,host.get_servertime",
              "--disable", "message.*")
    try:
        x = sim.session().xenapi
        for fn, args, name in ((x.VM.get_all_records_where, ("true",), "VM.get_all_records_where"),
                               (x.host.get_servertime, (x.host.get_all()[0],), "host.get_servertime"),
                               (x.message.get_all, (), "message.get_all"),
                               (x.Async.VM.get_all_records_where, ("true",), "Async.VM.get_all_records_where")):
            with pytest.raises(XenAPI.Failure) as e:
                fn(*args)
            assert e.value.details == ["MESSAGE_METHOD_UNKNOWN", name]
        assert x.VM.get_all_records()
        assert x.SR.get_all_records_where("true")
    finally:
        sim.stop()
