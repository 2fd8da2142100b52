//! Local data, per user, under the client's data directory:
//! `current` (whose session is stored), and `users/<user>/` with `session`
//! (mode 0600), `identity.json` and `kv.json` (the app's own key-value data).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{Map, Value};
use tessera_api::authority::Identity;

use crate::error::{ClientError, Result};

#[derive(Debug, Clone)]
pub(crate) struct LocalData {
    dir: PathBuf,
}

fn io(e: std::io::Error) -> ClientError {
    ClientError::LocalData(e)
}

/// Writes a file readable by its owner only, replacing it atomically.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn read(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(e)),
    }
}

impl LocalData {
    pub fn open(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(dir.join("users")).map_err(io)?;
        Ok(Self { dir })
    }

    fn user_dir(&self, user_id: &str) -> PathBuf {
        self.dir
            .join("users")
            .join(utf8_percent_encode(user_id, NON_ALPHANUMERIC).to_string())
    }

    pub fn current_user(&self) -> Result<Option<String>> {
        Ok(read(&self.dir.join("current"))?.filter(|s| !s.is_empty()))
    }

    pub fn session(&self, user_id: &str) -> Result<Option<String>> {
        read(&self.user_dir(user_id).join("session"))
    }

    /// Stores the session and makes its user the current one.
    pub fn save_session(&self, user_id: &str, token: &str) -> Result<()> {
        let dir = self.user_dir(user_id);
        std::fs::create_dir_all(&dir).map_err(io)?;
        write_private(&dir.join("session"), token.as_bytes())?;
        write_private(&self.dir.join("current"), user_id.as_bytes())
    }

    /// Forgets the session (and the current user), keeping the user's data.
    pub fn end_session(&self, user_id: &str) -> Result<()> {
        for path in [
            self.user_dir(user_id).join("session"),
            self.dir.join("current"),
        ] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        Ok(())
    }

    /// Removes everything stored for the user.
    pub fn delete_user(&self, user_id: &str) -> Result<()> {
        self.end_session(user_id)?;
        match std::fs::remove_dir_all(self.user_dir(user_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    pub fn save_identity(&self, user_id: &str, identity: &Identity) -> Result<()> {
        let dir = self.user_dir(user_id);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let text = serde_json::to_vec(identity).map_err(|e| io(std::io::Error::other(e)))?;
        write_private(&dir.join("identity.json"), &text)
    }

    pub fn identity(&self, user_id: &str) -> Result<Option<Identity>> {
        Ok(read(&self.user_dir(user_id).join("identity.json"))?
            .and_then(|s| serde_json::from_str(&s).ok()))
    }

    fn kv(&self, user_id: &str) -> Result<Map<String, Value>> {
        Ok(read(&self.user_dir(user_id).join("kv.json"))?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default())
    }

    pub fn kv_get(&self, user_id: &str, key: &str) -> Result<Option<Value>> {
        Ok(self.kv(user_id)?.remove(key))
    }

    pub fn kv_set(&self, user_id: &str, key: &str, value: Option<Value>) -> Result<()> {
        let mut kv = self.kv(user_id)?;
        match value {
            Some(v) => kv.insert(key.to_owned(), v),
            None => kv.remove(key),
        };
        let dir = self.user_dir(user_id);
        std::fs::create_dir_all(&dir).map_err(io)?;
        write_private(
            &dir.join("kv.json"),
            Value::Object(kv).to_string().as_bytes(),
        )
    }
}
