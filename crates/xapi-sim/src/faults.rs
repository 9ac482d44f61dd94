//! Fault and latency rules (`--faults`, `--delay`, `PUT /sim/faults`): which
//! calls fail, wait, lose their connection, lose their session, or are told
//! the host is a pool member. This module only decides; the transport
//! (`server`) applies the effect. A leaf: it knows nothing of the database.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest delay a rule may ask for (delay plus jitter), one hour: enough
/// to test any client timeout, short enough that a typo cannot hang a run.
pub const MAX_DELAY_MS: u64 = 3_600_000;

/// The login xapi refuses with HOST_IS_SLAVE on a pool member (the other
/// login messages are the ones members do serve).
pub const LOGIN_METHODS: &[&str] = &["session.login_with_password"];

/// One rule, as written in `--faults` files and `/sim/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Wire name, `*` matching any characters; a pattern matches a call as
    /// sent or without `Async.`. Absent: every call, except for a
    /// `host_is_slave` rule, which then applies to logins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A XenAPI failure: code, then parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Vec<String>>,
    /// The chance that a matching call is hit.
    #[serde(default = "certain")]
    pub probability: f64,
    /// How many times the rule fires; absent is unlimited (1 for `session_invalid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<u64>,
    /// Close the connection without an answer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drop: bool,
    /// Forget the call's session and answer SESSION_INVALID.
    #[serde(default, skip_serializing_if = "is_false")]
    pub session_invalid: bool,
    /// Answer HOST_IS_SLAVE with this master address, unless the request was
    /// made to that address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_is_slave: Option<String>,
    /// Times the rule fired (read-only: ignored when rules are set).
    #[serde(default)]
    pub hits: u64,
}

fn certain() -> f64 {
    1.0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Rule {
    /// The rule that delays every call (`--delay`, `--jitter`).
    pub fn delay(delay_ms: u64, jitter_ms: u64) -> Rule {
        Rule {
            method: Some("*".into()),
            error: None,
            probability: 1.0,
            count: None,
            delay_ms: Some(delay_ms),
            jitter_ms: (jitter_ms > 0).then_some(jitter_ms),
            drop: false,
            session_invalid: false,
            host_is_slave: None,
            hits: 0,
        }
    }

    /// Checks a rule and fills in the defaults that depend on its kind.
    fn normalise(mut self) -> Result<Rule, String> {
        if self.method.as_deref() == Some("") {
            return Err("method is empty".into());
        }
        if let Some(error) = &self.error {
            match error.first() {
                None => return Err("error is an empty list: give the code, then its parameters".into()),
                Some(code) if code.is_empty() => return Err("error code is empty".into()),
                Some(_) => {}
            }
        }
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(format!("probability {} is not between 0 and 1", self.probability));
        }
        if self.count == Some(0) {
            return Err("count is 0: the rule would never fire".into());
        }
        if self.host_is_slave.as_deref() == Some("") {
            return Err("host_is_slave is empty: give the master's address".into());
        }
        let effects = [self.error.is_some(), self.drop, self.session_invalid, self.host_is_slave.is_some()];
        match effects.iter().filter(|e| **e).count() {
            0 if self.delay_ms.is_none() => {
                return Err(
                    "the rule has no effect: give error, delay_ms, drop, session_invalid or host_is_slave".into()
                )
            }
            0 | 1 => {}
            _ => return Err("error, drop, session_invalid and host_is_slave exclude each other".into()),
        }
        if self.jitter_ms.is_some() && self.delay_ms.is_none() {
            return Err("jitter_ms needs delay_ms".into());
        }
        let longest = self.delay_ms.unwrap_or(0).saturating_add(self.jitter_ms.unwrap_or(0));
        if longest > MAX_DELAY_MS {
            return Err(format!("delay_ms plus jitter_ms is {longest}, more than {MAX_DELAY_MS} (one hour)"));
        }
        if self.session_invalid && self.count.is_none() {
            self.count = Some(1);
        }
        self.hits = 0;
        Ok(self)
    }

    fn matches_method(&self, method: &str) -> bool {
        match &self.method {
            Some(p) => method_matches(p, method),
            None if self.host_is_slave.is_some() => LOGIN_METHODS.contains(&method),
            None => true,
        }
    }

    /// The fault this rule's effect is reported as.
    fn kind(&self) -> &'static str {
        if self.error.is_some() {
            "error"
        } else if self.drop {
            "drop"
        } else if self.session_invalid {
            "session_invalid"
        } else if self.host_is_slave.is_some() {
            "host_is_slave"
        } else {
            "delay"
        }
    }
}

/// Reads a JSON list of rules, checked: the reason names the rule (from 1).
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let list: Vec<serde_json::Value> = match serde_json::from_str(text) {
        Ok(serde_json::Value::Array(list)) => list,
        Ok(_) => return Err("expected a JSON list of rules".into()),
        Err(e) => return Err(format!("not valid JSON: {e}")),
    };
    list.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let rule: Rule = serde_path_to_error::deserialize(v).map_err(|e| {
                let (path, inner) = (e.path().to_string(), e.inner().to_string());
                // The path names the field at fault, unless the rule itself
                // is, or the message names it already (`unknown field`).
                if path == "." || inner.starts_with("unknown field") {
                    format!("rule {}: {inner}", i + 1)
                } else {
                    format!("rule {}: {path}: {inner}", i + 1)
                }
            })?;
            rule.normalise().map_err(|e| format!("rule {}: {e}", i + 1))
        })
        .collect()
}

/// Whether a wire-name pattern matches a call as sent or without `Async.`.
pub fn method_matches(pattern: &str, method: &str) -> bool {
    let plain = method.strip_prefix("Async.").unwrap_or(method);
    glob(pattern, method) || glob(pattern, plain)
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut left) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or("");
    for part in parts {
        match left.find(part) {
            Some(i) => left = &left[i + part.len()..],
            None => return false,
        }
    }
    left.len() >= last.len() && left.ends_with(last)
}

/// What the transport knows of a call when rules are consulted.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Wire name as sent.
    pub method: &'a str,
    /// Whether the call carries a live session (a `session_invalid` rule
    /// applies only then).
    pub has_session: bool,
    /// The host part of the request's `Host` header.
    pub host: Option<&'a str>,
}

/// What happens to a call besides (or instead of) being served.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Served normally (after the delay).
    Serve,
    Error(Vec<String>),
    Drop,
    SessionInvalid,
    HostIsSlave(String),
}

/// The effect of the rule that fired on a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// Waited before anything else.
    pub delay: Duration,
    pub action: Action,
    /// `error`, `delay`, `drop`, `session_invalid` or `host_is_slave`.
    pub kind: &'static str,
}

/// The rules in force, their hit counts and the seeded generator behind
/// probabilities and jitter.
#[derive(Debug, Clone)]
pub struct Faults {
    rules: Vec<Rule>,
    rng: u64,
}

impl Faults {
    pub fn new(rules: Vec<Rule>, seed: u64) -> Faults {
        Faults { rules, rng: seed ^ 0xd1b5_4a32_d192_ed03 }
    }

    /// The rules with their hit counts.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Replaces the rules; hit counts start again from 0.
    pub fn replace(&mut self, rules: Vec<Rule>) {
        self.rules = rules.into_iter().map(|r| Rule { hits: 0, ..r }).collect();
    }

    /// Finds the first rule that fires on this call and counts the hit.
    /// A rule fires when its method matches, it applies to the call, its
    /// count is not used up and its probability draw succeeds.
    pub fn decide(&mut self, req: Request<'_>) -> Option<Effect> {
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            let applies = rule.matches_method(req.method)
                && rule.count.is_none_or(|c| rule.hits < c)
                && (!rule.session_invalid || req.has_session)
                && rule.host_is_slave.as_deref().is_none_or(|a| !req.host.is_some_and(|h| h.eq_ignore_ascii_case(a)));
            if !applies || !self.draw(self.rules[i].probability) {
                continue;
            }
            let rule = &self.rules[i];
            let (delay_ms, jitter_ms) = (rule.delay_ms.unwrap_or(0), rule.jitter_ms.unwrap_or(0));
            let action = if let Some(e) = &rule.error {
                Action::Error(e.clone())
            } else if rule.drop {
                Action::Drop
            } else if rule.session_invalid {
                Action::SessionInvalid
            } else if let Some(a) = &rule.host_is_slave {
                Action::HostIsSlave(a.clone())
            } else {
                Action::Serve
            };
            let kind = rule.kind();
            self.rules[i].hits += 1;
            let delay = Duration::from_millis(self.jittered(delay_ms, jitter_ms));
            return Some(Effect { delay, action, kind });
        }
        None
    }

    /// A delay drawn uniformly from `[delay - jitter, delay + jitter]`, at least 0.
    fn jittered(&mut self, delay: u64, jitter: u64) -> u64 {
        if jitter == 0 {
            return delay;
        }
        let low = delay.saturating_sub(jitter);
        let high = delay.saturating_add(jitter);
        low + self.next() % (high - low + 1)
    }

    /// Whether an event of probability `p` happens; 0 and 1 draw nothing.
    fn draw(&mut self, p: f64) -> bool {
        if p >= 1.0 {
            return true;
        }
        if p <= 0.0 {
            return false;
        }
        // 53 random bits give a uniform float in [0, 1).
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn next(&mut self) -> u64 {
        // splitmix64, as the database's uuids.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The host part of a `Host` header: `name:port`, `[v6]:port`, or a bare name.
pub fn host_part(header: &str) -> &str {
    if let Some(rest) = header.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match header.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => header,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<Rule> {
        parse_rules(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn req(method: &str) -> Request<'_> {
        Request { method, has_session: true, host: Some("127.0.0.1") }
    }

    #[test]
    fn rules_parse_with_defaults() {
        let r = rules(
            r#"[{"method": "VM.start", "error": ["HOST_NOT_ENOUGH_FREE_MEMORY", "4294967296", "1073741824"],
                 "probability": 1.0, "count": 1},
                {"method": "*", "delay_ms": 200, "jitter_ms": 50},
                {"method": "VM.get_all_records", "drop": true},
                {"method": "VM.clean_shutdown", "session_invalid": true},
                {"host_is_slave": "127.0.0.2"}]"#,
        );
        assert_eq!(r.len(), 5);
        assert_eq!(r[0].error.as_deref().unwrap()[0], "HOST_NOT_ENOUGH_FREE_MEMORY");
        assert_eq!((r[0].count, r[1].count, r[1].probability), (Some(1), None, 1.0));
        assert_eq!((r[1].delay_ms, r[1].jitter_ms), (Some(200), Some(50)));
        assert!(r[2].drop);
        // "answers SESSION_INVALID once"
        assert_eq!(r[3].count, Some(1));
        assert_eq!(r[4].method, None);
        assert_eq!(r[4].host_is_slave.as_deref(), Some("127.0.0.2"));
        // GET shows what was set, with hits; hits given to PUT are ignored.
        let shown = serde_json::to_string(&r[2]).unwrap();
        assert_eq!(shown, r#"{"method":"VM.get_all_records","probability":1.0,"drop":true,"hits":0}"#);
        assert_eq!(rules(r#"[{"drop": true, "hits": 7}]"#)[0].hits, 0);
        assert!(rules("[]").is_empty());
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        for (json, reason) in [
            ("{}", "expected a JSON list of rules"),
            ("[{", "not valid JSON: "),
            (r#"[{"method": "VM.start", "eror": ["X"]}]"#, "rule 1: unknown field `eror`"),
            (r#"[{"drop": true}, {"method": "VM.start"}]"#, "rule 2: the rule has no effect"),
            (r#"[{"error": []}]"#, "rule 1: error is an empty list"),
            (r#"[{"error": [""]}]"#, "rule 1: error code is empty"),
            (r#"[{"error": ["X", 5]}]"#, "rule 1: error[1]: invalid type: integer `5`, expected a string"),
            (r#"[{"error": "X"}]"#, "rule 1: error: invalid type: string \"X\", expected a sequence"),
            (r#"[5]"#, "rule 1: invalid type: integer `5`, expected struct Rule"),
            (r#"[{"drop": true, "probability": 1.5}]"#, "rule 1: probability 1.5 is not between 0 and 1"),
            (r#"[{"drop": true, "probability": -0.1}]"#, "rule 1: probability -0.1 is not"),
            (r#"[{"drop": true, "count": 0}]"#, "rule 1: count is 0"),
            (r#"[{"delay_ms": -5}]"#, "rule 1: delay_ms: invalid value: integer `-5`"),
            (r#"[{"jitter_ms": 5}]"#, "rule 1: the rule has no effect"),
            (r#"[{"drop": true, "jitter_ms": 5}]"#, "rule 1: jitter_ms needs delay_ms"),
            (r#"[{"delay_ms": 3600000, "jitter_ms": 1}]"#, "rule 1: delay_ms plus jitter_ms is 3600001"),
            (r#"[{"drop": true, "error": ["X"]}]"#, "rule 1: error, drop, session_invalid and host_is_slave exclude"),
            (r#"[{"method": "", "drop": true}]"#, "rule 1: method is empty"),
            (r#"[{"host_is_slave": ""}]"#, "rule 1: host_is_slave is empty"),
            (r#"[{"drop": "yes"}]"#, "rule 1: drop: invalid type: string \"yes\", expected a boolean"),
            (r#"[{"probability": "1", "drop": true}]"#, "rule 1: probability: invalid type: string"),
        ] {
            match parse_rules(json) {
                Ok(r) => panic!("{json} accepted: {r:?}"),
                Err(e) => {
                    assert!(e.starts_with(reason), "{json}: {e}");
                    assert!(!e.contains('\n'), "{json}: {e}");
                }
            }
        }
    }

    #[test]
    fn globs_match_as_sent_or_without_async() {
        assert!(method_matches("VM.start", "VM.start") && method_matches("VM.start", "Async.VM.start"));
        assert!(!method_matches("Async.VM.start", "VM.start") && method_matches("Async.VM.*", "Async.VM.start"));
        assert!(method_matches("VM.*", "VM.clean_shutdown") && !method_matches("VM.*", "VDI.destroy"));
        assert!(method_matches("*.destroy", "Async.VDI.destroy") && !method_matches("*.destroy", "VDI.destroy_many"));
        assert!(glob("a*b*c", "axxbyyc") && glob("*", "") && glob("a*a", "aa"));
        assert!(!glob("a*a", "a") && !glob("a*b*c", "acb"));
    }

    #[test]
    fn the_first_matching_rule_wins_and_counts_run_out() {
        let mut f = Faults::new(
            rules(
                r#"[{"method": "VM.start", "error": ["A"], "count": 2},
                    {"method": "VM.*", "error": ["B"]},
                    {"delay_ms": 5}]"#,
            ),
            1,
        );
        let code = |f: &mut Faults, m: &str| match f.decide(req(m)).map(|e| e.action) {
            Some(Action::Error(e)) => e[0].clone(),
            Some(Action::Serve) => "delay".into(),
            other => format!("{other:?}"),
        };
        assert_eq!(code(&mut f, "VM.start"), "A");
        assert_eq!(code(&mut f, "Async.VM.start"), "A");
        assert_eq!(code(&mut f, "VM.start"), "B");
        assert_eq!(code(&mut f, "VM.clone"), "B");
        assert_eq!(code(&mut f, "host.get_all"), "delay");
        let hits: Vec<u64> = f.rules().iter().map(|r| r.hits).collect();
        assert_eq!(hits, [2, 2, 1]);
        f.replace(f.rules().to_vec());
        assert!(f.rules().iter().all(|r| r.hits == 0));
        assert_eq!(code(&mut f, "VM.start"), "A");
    }

    #[test]
    fn rules_apply_only_where_they_make_sense() {
        let mut f = Faults::new(rules(r#"[{"session_invalid": true, "count": 5}, {"host_is_slave": "localhost"}]"#), 1);
        // No session: the session rule passes; not a login: the slave rule too.
        assert_eq!(f.decide(Request { method: "VM.get_all", has_session: false, host: None }), None);
        let login = |host| Request { method: "session.login_with_password", has_session: false, host };
        let slave = f.decide(login(Some("127.0.0.1"))).map(|e| e.action);
        assert_eq!(slave, Some(Action::HostIsSlave("localhost".into())));
        // A request made to the master's address logs in there.
        assert_eq!(f.decide(login(Some("LocalHost"))), None);
        let effect = f.decide(req("VM.get_all")).unwrap();
        assert_eq!((effect.action, effect.kind), (Action::SessionInvalid, "session_invalid"));
        assert_eq!(f.rules()[0].hits, 1);
        assert_eq!(f.rules()[1].hits, 1);
    }

    #[test]
    fn probability_draws_are_seeded() {
        let never = rules(r#"[{"drop": true, "probability": 0}]"#);
        let mut f = Faults::new(never, 3);
        assert!((0..10_000).all(|_| f.decide(req("VM.start")).is_none()));
        let half = rules(r#"[{"drop": true, "probability": 0.5}]"#);
        let run = |seed| {
            let mut f = Faults::new(half.clone(), seed);
            (0..1000).map(|_| f.decide(req("VM.start")).is_some()).collect::<Vec<bool>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let fired = run(7).iter().filter(|b| **b).count();
        assert!((400..600).contains(&fired), "{fired} of 1000 at p=0.5");
    }

    #[test]
    fn delays_stay_in_their_range() {
        let mut f = Faults::new(rules(r#"[{"delay_ms": 200, "jitter_ms": 50}]"#), 1);
        let drawn: Vec<u64> = (0..2000).map(|_| f.decide(req("VM.start")).unwrap().delay.as_millis() as u64).collect();
        assert!(drawn.iter().all(|d| (150..=250).contains(d)));
        assert!(drawn.contains(&150) && drawn.contains(&250), "both ends are reachable");
        // Floored at 0.
        let mut f = Faults::new(rules(r#"[{"delay_ms": 10, "jitter_ms": 50}]"#), 1);
        let drawn: Vec<u64> = (0..2000).map(|_| f.decide(req("x")).unwrap().delay.as_millis() as u64).collect();
        assert!(drawn.iter().all(|d| *d <= 60) && drawn.contains(&0));
        let mut f = Faults::new(vec![Rule::delay(30, 0)], 1);
        let e = f.decide(req("VM.start")).unwrap();
        assert_eq!((e.delay, e.action, e.kind), (Duration::from_millis(30), Action::Serve, "delay"));
    }

    #[test]
    fn host_headers_give_their_host() {
        assert_eq!(host_part("localhost:8080"), "localhost");
        assert_eq!(host_part("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_part("[::1]:443"), "::1");
        assert_eq!(host_part("::1"), "::1");
    }
}
