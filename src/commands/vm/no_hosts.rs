//! xe's answer to NO_HOSTS_AVAILABLE when starting or resuming a VM: a table
//! of why each host cannot run it.

use crate::commands::select::Target;
use crate::connect::{Api, CallError};
use crate::context::Context;
use crate::output::{Field, Record};
use xenapi::Value;

/// xe's answer to NO_HOSTS_AVAILABLE when starting or resuming: why each
/// host cannot run the VM (`VM.assert_can_boot_here`), printed before the error.
#[derive(Default)]
pub(crate) struct Reports(std::sync::Mutex<Vec<(usize, HostTable)>>);

/// Host name-label and verdict, per host.
pub(crate) type HostTable = Vec<(String, String)>;

impl Reports {
    /// Passes `result` through, recording the per-host reasons first when it is NO_HOSTS_AVAILABLE.
    pub(crate) fn on_no_host(
        &self,
        api: &mut dyn Api,
        t: &Target,
        result: Result<Value, CallError>,
    ) -> Result<Value, CallError> {
        if matches!(&result, Err(CallError::Api(code, _)) if code == "NO_HOSTS_AVAILABLE") {
            let table = host_report(api, &t.r);
            if let Ok(mut all) = self.0.lock() {
                all.push((t.index, table));
            }
        }
        result
    }

    /// Prints the recorded reports, one per VM in selection order.
    pub(crate) fn print(self, ctx: &mut Context) {
        let mut all = self.0.into_inner().unwrap_or_default();
        all.sort_by_key(|(index, _)| *index);
        for (_, table) in all {
            ctx.printer.list(&[
                "There are no suitable hosts to start this VM on.".to_string(),
                "The following table provides per-host reasons for why the VM could not be started:".to_string(),
                String::new(),
            ]);
            let fields = table.into_iter().map(|(host, why)| Field::plain(&host, why)).collect();
            ctx.printer.records(&[Record { fields }]);
        }
    }
}

/// `host name-label -> OK | Cannot start here [reason]` for every host.
pub(crate) fn host_report(api: &mut dyn Api, vm_ref: &str) -> Vec<(String, String)> {
    let hosts = api.call("host.get_all", vec![]).ok();
    let mut rows = Vec::new();
    for host in hosts.as_ref().and_then(Value::as_array).unwrap_or(&[]) {
        let name = api.call("host.get_name_label", vec![host.clone()]).map(|v| v.to_string()).unwrap_or_default();
        let why = match api.call("VM.assert_can_boot_here", vec![Value::str(vm_ref), host.clone()]) {
            Ok(_) => "OK".to_string(),
            Err(e) => format!("Cannot start here [{}]", assert_reason(api, e)),
        };
        rows.push((name, why));
    }
    rows
}

/// xe's wording of why a VM cannot boot on a host.
pub(crate) fn assert_reason(api: &mut dyn Api, e: CallError) -> String {
    let CallError::Api(code, params) = e else {
        return match e {
            CallError::Cli(c) => c.message(),
            CallError::Api(..) => String::new(),
        };
    };
    let arg = |n: usize| params.get(n).cloned().unwrap_or_else(|| "<server did not provide reference>".to_string());
    match (code.as_str(), params.as_slice()) {
        ("VM_REQUIRES_SR", _) => format!("VM requires access to SR: {}", ref_text(api, "SR", &arg(1))),
        ("HOST_DISABLED", _) => "Host disabled (use 'xe host-enable' to re-enable)".to_string(),
        ("HOST_DISABLED_INDEFINITELY", _) => {
            "Host disabled indefinitely (use 'xe host-enable' to re-enable)".to_string()
        }
        ("HOST_NOT_LIVE", _) => "Host down".to_string(),
        ("HOST_NOT_ENOUGH_FREE_MEMORY", _) => "Not enough free memory".to_string(),
        ("HOST_NOT_ENOUGH_PCPUS", [vcpus, pcpus]) => {
            format!("Not enough CPUs (VM needs {vcpus}, but host has {pcpus})")
        }
        ("VM_REQUIRES_NET", _) => format!("VM requires access to network: {}", ref_text(api, "network", &arg(1))),
        ("HOST_CANNOT_ATTACH_NETWORK", _) => {
            format!("Host cannot attach to network: {}", ref_text(api, "network", &arg(1)))
        }
        ("VM_HVM_REQUIRED", _) => "HVM not supported".to_string(),
        ("INVALID_VALUE", [key, v]) => format!("Field has invalid value: {key} = {v}"),
        _ => format!("Server_error({code}, [ {} ])", params.join("; ")),
    }
}

/// A ref as xe shows it: `uuid (name-label)`, or the ref itself when unknown.
pub(crate) fn ref_text(api: &mut dyn Api, class: &str, r: &str) -> String {
    let Ok(uuid) = api.call(&format!("{class}.get_uuid"), vec![Value::str(r)]) else { return r.to_string() };
    match api.call(&format!("{class}.get_name_label"), vec![Value::str(r)]) {
        Ok(name) => format!("{uuid} ({name})"),
        Err(_) => uuid.to_string(),
    }
}
