"""Passwords in settings become secrets, as xapi keeps them: a
device_config key ending in `password` is stored as `<key>_secret` naming a
secret; each PBD has its own; destroying the PBD, or replacing a host's
power-on configuration, destroys the secrets they name."""

import XenAPI

from conftest import Sim

import pytest


@pytest.fixture()
def pool():
    s = Sim("--time-scale", "0")
    yield s
    s.stop()


def secret_value(x, uuid):
    return x.secret.get_value(x.secret.get_by_uuid(uuid))


def test_sr_and_pbd_passwords_live_in_secrets(pool):
    x = pool.session().xenapi
    host = x.host.get_all()[0]
    before = set(x.secret.get_all())
    dc = {"server": "nfs02.example.com", "serverpath": "/export/secure", "password": "s3cret"}
    sr = x.SR.create(host, dc, "0", "secure", "", "nfs", "user", True, {})
    pbds = x.SR.get_PBDs(sr)
    assert len(pbds) == len(x.host.get_all())
    uuids = []
    for pbd in pbds:
        config = x.PBD.get_device_config(pbd)
        assert "password" not in config
        assert secret_value(x, config["password_secret"]) == "s3cret"
        uuids.append(config["password_secret"])
    assert len(set(uuids)) == len(uuids)  # one secret per PBD
    assert not any("s3cret" in str(x.PBD.get_record(p)) for p in pbds)

    pbd = pbds[0]
    x.PBD.unplug(pbd)
    x.PBD.destroy(pbd)
    with pytest.raises(XenAPI.Failure) as e:
        x.secret.get_by_uuid(uuids[0])
    assert e.value.details[0] == "UUID_INVALID"
    assert secret_value(x, uuids[1]) == "s3cret"

    x.PBD.set_device_config(pbds[1], {"server": "nfs02.example.com", "serverpath": "/x", "chappassword": "new"})
    config = x.PBD.get_device_config(pbds[1])
    assert secret_value(x, config["chappassword_secret"]) == "new"
    assert set(x.secret.get_all()) > before


def test_a_pbd_naming_a_missing_secret_is_refused(pool):
    x = pool.session().xenapi
    host = x.host.get_all()[0]
    sr = x.SR.introduce("", "intro", "", "nfs", "user", True, {})
    dc = {"server": "s", "serverpath": "/p", "password_secret": "no-such-secret"}
    with pytest.raises(XenAPI.Failure) as e:
        x.PBD.create({"host": host, "SR": sr, "device_config": dc, "other_config": {}})
    assert e.value.details == ["UUID_INVALID", "secret", "no-such-secret"]


def test_power_on_config_secrets_go_with_the_config(pool):
    x = pool.session().xenapi
    host = x.host.get_all()[1]
    secret = x.secret.create({"value": "ilo-pass", "other_config": {}})
    uuid = x.secret.get_uuid(secret)
    x.host.set_power_on_mode(host, "iLO", {"power_on_ip": "192.0.2.50", "power_on_user": "admin",
                                            "power_on_password_secret": uuid})
    assert x.secret.get_value(secret) == "ilo-pass"
    x.host.set_power_on_mode(host, "", {})
    with pytest.raises(XenAPI.Failure) as e:
        x.secret.get_by_uuid(uuid)
    assert e.value.details[0] == "UUID_INVALID"
