//! Reads where `tessera up` listens, for the client examples.

use std::path::PathBuf;

/// What the examples need from `<data-dir>/up.json`.
pub struct UpEndpoints {
    pub authority: String,
    pub identity: String,
    pub app_id: tessera_claims::AppId,
    pub demo_user: String,
    pub demo_password: String,
    pub data_dir: PathBuf,
}

/// The endpoints of `tessera up --data-dir DIR` (default `./tessera-data`, or the
/// first argument).
pub fn read() -> anyhow::Result<UpEndpoints> {
    let data_dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "./tessera-data".into()),
    );
    let text = std::fs::read_to_string(data_dir.join("up.json")).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}; start the stack with `tessera up` first",
            data_dir.display()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let s = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("up.json has no {k}"))
    };
    Ok(UpEndpoints {
        authority: s("authority_url")?,
        identity: s("identity_url")?,
        app_id: s("app_id")?.parse()?,
        demo_user: s("demo_user")?,
        demo_password: s("demo_password")?,
        data_dir,
    })
}
