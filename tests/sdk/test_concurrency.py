"""Many clients at once: no errors, consistent counts."""

import threading

from conftest import Sim


def test_50_clients_200_calls_each():
    sim = Sim()
    try:
        errors = []
        created = []
        lock = threading.Lock()

        def client(i):
            try:
                x = sim.session(f"client-{i}").xenapi
                vm = x.VM.get_by_name_label("web01")[0]
                for j in range(200):
                    if j % 50 == 0:
                        net = x.network.create({"name_label": f"c{i}-{j}", "name_description": "", "MTU": "1500",
                                                "other_config": {}})
                        with lock:
                            created.append(net)
                    elif j % 2:
                        x.VM.get_record(vm)
                    else:
                        x.VM.add_to_other_config(vm, f"c{i}-{j}", "x")
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        x = sim.session().xenapi
        vm = x.VM.get_by_name_label("web01")[0]
        keys = [k for k in x.VM.get_other_config(vm) if k.startswith("c")]
        assert len(keys) == 50 * 100
        names = {x.network.get_name_label(n) for n in created}
        assert len(created) == 50 * 4 and len(names) == 200
    finally:
        sim.stop()
