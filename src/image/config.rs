//! The image config (OCI image-spec `config.json` / docker's image JSON):
//! what to run and how, and the layers' diff_ids.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub config: RunConfig,
    #[serde(default)]
    pub rootfs: RootFs,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RunConfig {
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    #[serde(rename = "Hostname", default)]
    pub hostname: Option<String>,
}

/// The PATH a runtime sets when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl RunConfig {
    /// The command: Entrypoint + Cmd, or Entrypoint + `args` when the user
    /// gave a command (as `docker run IMAGE ARGS…` does).
    pub fn command(&self, args: &[String]) -> Vec<String> {
        let mut v = self.entrypoint.clone().unwrap_or_default();
        if args.is_empty() {
            v.extend(self.cmd.clone().unwrap_or_default());
        } else {
            v.extend(args.iter().cloned());
        }
        v
    }

    /// The workload's environment: the image's Env, PATH defaulted,
    /// HOSTNAME and HOME as runtimes set them.
    pub fn environment(&self, hostname: &str, home: &str) -> Vec<String> {
        let mut env: Vec<String> = self.env.clone().unwrap_or_default();
        let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
        if !has(&env, "PATH") {
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        if !has(&env, "HOSTNAME") {
            env.push(format!("HOSTNAME={hostname}"));
        }
        if !has(&env, "HOME") {
            env.push(format!("HOME={home}"));
        }
        env
    }
}

/// A resolved `User`: uid, gid, supplementary groups, home directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

/// Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`) against the
/// image's own /etc/passwd and /etc/group (given as text), as runtimes do.
pub fn resolve_user(user: &str, passwd: &str, group: &str) -> Result<User, String> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let pw: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let gr: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let entry = pw
        .iter()
        .find(|f| f[0] == u)
        .or_else(|| pw.iter().find(|f| u.parse::<u32>().is_ok() && f[2] == u));
    let uid: u32 = match (u.parse::<u32>(), entry) {
        (Ok(n), _) => n,
        (Err(_), Some(f)) => f[2]
            .parse()
            .map_err(|_| format!("bad uid in /etc/passwd for {u}"))?,
        (Err(_), None) => return Err(format!("user {u:?} is not in the image's /etc/passwd")),
    };
    let gid: u32 = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => gr
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| format!("group {g:?} is not in the image's /etc/group"))?,
        },
        None => entry.and_then(|f| f[3].parse().ok()).unwrap_or(0),
    };
    let name = entry.map(|f| f[0]).unwrap_or(u);
    let mut groups = vec![gid];
    if g.is_none() {
        for f in &gr {
            if f[3].split(',').any(|m| m == name) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if !groups.contains(&n) {
                        groups.push(n);
                    }
                }
            }
        }
    }
    let home = entry
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| "/".into());
    Ok(User {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_env() {
        let c = RunConfig {
            entrypoint: Some(vec!["/init".into()]),
            cmd: Some(vec!["serve".into()]),
            env: Some(vec!["FOO=bar".into()]),
            ..Default::default()
        };
        assert_eq!(c.command(&[]), ["/init", "serve"]);
        assert_eq!(c.command(&["sh".into()]), ["/init", "sh"]);
        let env = c.environment("h", "/root");
        assert_eq!(env[0], format!("PATH={DEFAULT_PATH}"));
        assert!(env.contains(&"FOO=bar".to_string()));
        assert!(env.contains(&"HOSTNAME=h".to_string()));
    }

    #[test]
    fn users() {
        let pw = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
        let gr = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\n";
        let u = resolve_user("www", pw, gr).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.groups.clone(), u.home.as_str()),
            (33, 33, vec![33, 50], "/var/www")
        );
        assert_eq!(resolve_user("1000:1000", pw, gr).unwrap().uid, 1000);
        assert_eq!(resolve_user("33:staff", pw, gr).unwrap().gid, 50);
        assert!(resolve_user("nobody", pw, gr).is_err());
    }
}
