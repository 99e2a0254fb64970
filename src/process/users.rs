//! uid → user name, from a passwd file read once (no NSS: cgdash must not
//! block on LDAP in its sampling loop; unknown uids show as numbers, like top).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug)]
pub struct Users {
    passwd: PathBuf,
    names: Option<HashMap<u32, Arc<str>>>,
}

impl Users {
    pub fn new(passwd: PathBuf) -> Users {
        Users {
            passwd,
            names: None,
        }
    }

    /// The name of `uid`, or the number as text when the passwd file doesn't
    /// list it (or can't be read).
    pub fn name(&mut self, uid: u32) -> Arc<str> {
        let passwd = &self.passwd;
        let names = self.names.get_or_insert_with(|| {
            std::fs::read_to_string(passwd)
                .map(|t| parse_passwd(&t))
                .unwrap_or_default()
        });
        names
            .entry(uid)
            .or_insert_with(|| Arc::from(uid.to_string()))
            .clone()
    }
}

/// `name:x:uid:gid:…` lines; the first entry for a uid wins (as getpwuid).
pub fn parse_passwd(text: &str) -> HashMap<u32, Arc<str>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut it = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if let Ok(uid) = uid.parse::<u32>() {
            out.entry(uid).or_insert_with(|| Arc::from(name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd() {
        let m = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n\
             # comment\n\
             daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             toor:x:0:0::/:/bin/sh\n\
             broken line\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        );
        assert_eq!(m.get(&0).map(|s| &**s), Some("root"));
        assert_eq!(m.get(&1).map(|s| &**s), Some("daemon"));
        assert_eq!(m.get(&65534).map(|s| &**s), Some("nobody"));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn unknown_uid_is_a_number_and_missing_file_is_not_fatal() {
        let mut u = Users::new(PathBuf::from("/nonexistent/passwd"));
        assert_eq!(&*u.name(1234), "1234");
    }
}
