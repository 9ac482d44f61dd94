#!/usr/bin/env bash
# Rolling maintenance of a pool: each host in turn is disabled, evacuated
# (its VMs live-migrate to the others), rebooted, waited for until it is
# back, and enabled again; the master goes last. No running VM may stop:
# the set of running VMs is checked after every step.
# Usage: rolling-maintenance.sh   (XE may point at xe; the pool comes from ~/.xe or XE_EXTRA_ARGS)
set -euo pipefail
XE=${XE:-xe}

running() { "$XE" vm-list power-state=running is-control-domain=false --minimal | tr , '\n' | sort; }
before=$(running)
echo "$(wc -l <<< "$before") VMs running"
check() {
  [ "$(running)" = "$before" ] || { echo "a VM stopped after: $1" >&2; exit 1; }
}

# Every host must be able to hand its VMs over; stop before touching any.
hosts=$("$XE" host-list --minimal | tr , ' ')
for h in $hosts; do
  blockers=$("$XE" host-get-vms-which-prevent-evacuation uuid="$h")
  [ -z "$blockers" ] || { echo "host $h cannot be evacuated:" >&2; echo "$blockers" >&2; exit 1; }
done

master=$("$XE" pool-list params=master --minimal)
for h in $(tr ' ' '\n' <<< "$hosts" | grep -v "$master") "$master"; do
  name=$("$XE" host-list uuid="$h" params=name-label --minimal)
  "$XE" host-disable uuid="$h"
  check "host-disable $name"
  "$XE" host-evacuate uuid="$h"
  check "host-evacuate $name"
  [ -z "$("$XE" vm-list resident-on="$h" is-control-domain=false --minimal)" ]
  "$XE" host-reboot uuid="$h"
  # Wait until the host is back and enabled. While the master reboots the
  # pool's API is away too: retry until it answers again.
  until "$XE" event-wait class=host uuid="$h" enabled=true 2> /dev/null; do sleep 0.2; done
  [ "$("$XE" host-list uuid="$h" params=host-metrics-live --minimal)" = true ]
  "$XE" host-enable uuid="$h"
  check "host-reboot $name"
  echo "$name: rebooted, $("$XE" vm-list resident-on="$h" is-control-domain=false --minimal | tr , '\n' | grep -c . || true) VMs on it"
done
echo "all hosts maintained, $(running | wc -l) VMs still running"
