//! `--directory FILE`: the simulated external directory behind
//! `pool.enable_external_auth` (auth type `AD`): users with passwords and
//! group memberships, and groups, from a JSON file:
//!
//! ```json
//! {"domain": "corp.example.com",
//!  "users": [{"name": "alice", "password": "pw", "groups": ["xen-admins"]}],
//!  "groups": [{"name": "xen-admins"}]}
//! ```
//!
//! Every entry gets a SID as an AD domain gives one (`S-1-5-21-a-b-c-RID`,
//! the three numbers from the domain name, RIDs from 1100 in file order),
//! so the same file always gives the same identifiers. Names resolve as
//! `name`, `DOMAIN\name` or `name@domain`, in any case.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    domain: String,
    #[serde(default)]
    users: Vec<UserFile>,
    #[serde(default)]
    groups: Vec<GroupFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    name: String,
    password: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    disabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    name: String,
    #[serde(default)]
    groups: Vec<String>,
}

/// A user or a group of the directory.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub sid: String,
    pub password: Option<String>,
    pub is_group: bool,
    /// Names of the groups it belongs to directly.
    pub groups: Vec<String>,
    pub display_name: String,
    pub disabled: bool,
    pub rid: u32,
}

/// The directory: its domain and entries.
#[derive(Debug, Clone)]
pub struct Directory {
    pub domain: String,
    pub entries: Vec<Entry>,
}

impl Directory {
    /// Reads and checks a directory file; the error is one line.
    pub fn load(path: &std::path::Path) -> Result<Directory, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("--directory {}: {e}", path.display()))?;
        Directory::parse(&text).map_err(|e| format!("--directory {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Directory, String> {
        let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if file.domain.is_empty() || !file.domain.contains('.') {
            return Err(format!("the domain {:?} is not a DNS domain name", file.domain));
        }
        let (a, b, c) = domain_numbers(&file.domain);
        let mut entries = Vec::new();
        let mut rid = 1100;
        for g in &file.groups {
            entries.push(Entry {
                name: g.name.clone(),
                sid: format!("S-1-5-21-{a}-{b}-{c}-{rid}"),
                password: None,
                is_group: true,
                groups: g.groups.clone(),
                display_name: g.name.clone(),
                disabled: false,
                rid,
            });
            rid += 1;
        }
        for u in &file.users {
            entries.push(Entry {
                name: u.name.clone(),
                sid: format!("S-1-5-21-{a}-{b}-{c}-{rid}"),
                password: Some(u.password.clone()),
                is_group: false,
                groups: u.groups.clone(),
                display_name: u.display_name.clone().unwrap_or_else(|| u.name.clone()),
                disabled: u.disabled,
                rid,
            });
            rid += 1;
        }
        let mut seen = std::collections::HashSet::new();
        for e in &entries {
            if !seen.insert(e.name.to_lowercase()) {
                return Err(format!("the name {:?} is given twice", e.name));
            }
        }
        for e in &entries {
            for g in &e.groups {
                if !entries.iter().any(|x| x.is_group && x.name.eq_ignore_ascii_case(g)) {
                    return Err(format!("{:?} belongs to {g:?}, which is not a group of the file", e.name));
                }
            }
        }
        Ok(Directory { domain: file.domain, entries })
    }

    /// The NetBIOS-style name of the domain: its first label.
    pub fn netbios(&self) -> &str {
        self.domain.split('.').next().unwrap_or(&self.domain)
    }

    /// Finds an entry by `name`, `DOMAIN\name` or `name@domain`.
    pub fn resolve(&self, name: &str) -> Option<&Entry> {
        let bare = if let Some((dom, n)) = name.split_once('\\') {
            (dom.eq_ignore_ascii_case(self.netbios()) || dom.eq_ignore_ascii_case(&self.domain)).then_some(n)?
        } else if let Some((n, dom)) = name.split_once('@') {
            dom.eq_ignore_ascii_case(&self.domain).then_some(n)?
        } else {
            name
        };
        self.entries.iter().find(|e| e.name.eq_ignore_ascii_case(bare))
    }

    pub fn by_sid(&self, sid: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.sid == sid)
    }

    /// The SIDs of every group `e` belongs to, directly or through other groups.
    pub fn membership(&self, e: &Entry) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut todo: Vec<String> = e.groups.clone();
        while let Some(g) = todo.pop() {
            if let Some(group) = self.entries.iter().find(|x| x.is_group && x.name.eq_ignore_ascii_case(&g)) {
                if !out.contains(&group.sid) {
                    out.push(group.sid.clone());
                    todo.extend(group.groups.iter().cloned());
                }
            }
        }
        out
    }

    /// The subject information xapi keeps in `subject.other_config`.
    pub fn information(&self, e: &Entry) -> Vec<(String, String)> {
        let name = format!("{}\\{}", self.netbios(), e.name);
        let gid = self.membership(e).first().and_then(|s| s.rsplit('-').next().map(str::to_string));
        [
            ("subject-name", name),
            ("subject-upn", format!("{}@{}", e.name, self.domain)),
            ("subject-uid", e.rid.to_string()),
            ("subject-gid", gid.unwrap_or_else(|| "513".to_string())),
            ("subject-sid", e.sid.clone()),
            ("subject-gecos", e.display_name.clone()),
            ("subject-displayname", e.display_name.clone()),
            ("subject-is-group", e.is_group.to_string()),
            ("subject-account-disabled", e.disabled.to_string()),
            ("subject-account-expired", "false".to_string()),
            ("subject-account-locked", "false".to_string()),
            ("subject-password-expired", "false".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Three numbers from the domain name (FNV-1a), as a domain's SID prefix.
fn domain_numbers(domain: &str) -> (u32, u32, u32) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut next = || {
        for b in domain.to_lowercase().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (h % 4_000_000_000) as u32
    };
    (next(), next(), next())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"domain": "corp.example.com",
        "users": [{"name": "alice", "password": "pw", "groups": ["ops"]}, {"name": "bob", "password": "x"}],
        "groups": [{"name": "ops", "groups": ["all-staff"]}, {"name": "all-staff"}]}"#;

    #[test]
    fn names_resolve_in_every_form_to_stable_sids() {
        let d = Directory::parse(FILE).unwrap();
        let alice = d.resolve("alice").unwrap();
        assert_eq!(d.resolve("CORP\\Alice").unwrap().sid, alice.sid);
        assert_eq!(d.resolve("alice@corp.example.com").unwrap().sid, alice.sid);
        assert!(d.resolve("OTHER\\alice").is_none());
        assert!(alice.sid.starts_with("S-1-5-21-") && alice.sid.ends_with("-1102"));
        assert_eq!(Directory::parse(FILE).unwrap().resolve("alice").unwrap().sid, alice.sid);
        let groups = d.membership(alice);
        assert_eq!(groups.len(), 2, "ops and, through it, all-staff");
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(Directory::parse(r#"{"domain": "nodots"}"#).unwrap_err().contains("DNS"));
        let e = Directory::parse(r#"{"domain": "a.b", "users": [{"name": "x", "password": "p", "groups": ["g"]}]}"#);
        assert!(e.unwrap_err().contains("not a group"));
    }
}
