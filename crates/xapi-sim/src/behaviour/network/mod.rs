//! Networking: `network.*`, `VIF.*`, `PIF.*`, `VLAN.*` (and the pool-wide
//! VLAN calls) with xapi's rules.

mod net;
mod pif;
mod vif;

use crate::call::Handler;
use crate::db::{ApiResult, Failure};
use crate::record::coerce;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use xenapi::model::Type;
use xenapi::Value;

pub(super) fn register(t: &mut HashMap<&'static str, Handler>) {
    net::register(t);
    vif::register(t);
    pif::register(t);
}

/// An enum argument in its canonical spelling (xapi takes any case).
fn enum_arg(v: &Value, name: &str) -> String {
    coerce(v.clone(), &Type::Enum(name.to_string())).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Helpers.assert_is_valid_ip: INVALID_IP_ADDRESS_SPECIFIED [param].
fn assert_ip(v6: bool, param: &str, value: &str) -> ApiResult<()> {
    let ok = if v6 { value.parse::<Ipv6Addr>().is_ok() } else { value.parse::<Ipv4Addr>().is_ok() };
    if ok {
        Ok(())
    } else {
        Err(Failure::new("INVALID_IP_ADDRESS_SPECIFIED", [param]))
    }
}

/// Helpers.assert_is_valid_cidr: INVALID_CIDR_ADDRESS_SPECIFIED [param].
fn assert_cidr(v6: bool, param: &str, value: &str) -> ApiResult<()> {
    let ok = value.split_once('/').is_some_and(|(ip, len)| {
        let max = if v6 { 128 } else { 32 };
        let ip_ok = if v6 { ip.parse::<Ipv6Addr>().is_ok() } else { ip.parse::<Ipv4Addr>().is_ok() };
        ip_ok && len.parse::<u8>().is_ok_and(|l| l <= max)
    });
    if ok {
        Ok(())
    } else {
        Err(Failure::new("INVALID_CIDR_ADDRESS_SPECIFIED", [param]))
    }
}

/// Each address of a comma-separated DNS list must be valid.
fn assert_dns(v6: bool, dns: &str) -> ApiResult<()> {
    if dns.is_empty() {
        return Ok(());
    }
    dns.split(',').try_for_each(|a| assert_ip(v6, "DNS", a.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_like_xapi() {
        assert!(assert_ip(false, "IP", "192.0.2.5").is_ok());
        assert_eq!(assert_ip(false, "IP", "192.0.2.500").unwrap_err().0, vec!["INVALID_IP_ADDRESS_SPECIFIED", "IP"]);
        assert!(assert_cidr(true, "IPv6", "2001:db8::5/64").is_ok());
        assert!(assert_cidr(true, "IPv6", "2001:db8::5").is_err());
        assert!(assert_dns(false, "192.0.2.53,192.0.2.54").is_ok());
        assert!(assert_dns(false, "dns.example.com").is_err());
        assert_eq!(enum_arg(&Value::str("dhcp"), "ip_configuration_mode"), "DHCP");
    }
}
