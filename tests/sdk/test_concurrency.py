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
                mine = None
                for j in range(200):
                    if j % 50 == 0:
                        mine = x.network.create({"name_label": f"c{i}-{j}", "name_description": "", "MTU": "1500",
                                                 "other_config": {}})
                        with lock:
                            created.append(mine)
                    elif j % 2:
                        x.VM.get_power_state(vm)
                    else:
                        x.network.add_to_other_config(mine, f"c{i}-{j}", "x")
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        x = sim.session().xenapi
        keys = sum(len(x.network.get_other_config(n)) for n in created)
        assert keys == 50 * 96
        names = {x.network.get_name_label(n) for n in created}
        assert len(created) == 50 * 4 and len(names) == 200
    finally:
        sim.stop()
