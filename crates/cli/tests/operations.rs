//! `tessera authority migrate|export|import` as processes: schema versions,
//! the refusal of a newer schema, and apps and keys moved from SQLite to
//! PostgreSQL. `scripts/test` provides the PostgreSQL server
//! (`TESSERA_TEST_POSTGRES_URL`); without it the PostgreSQL parts fail.

use tessera_tests::process as common;

use std::path::Path;
use std::process::{Command, Output};

use common::{encode, env, new_signer, register_app, start_authority, token_at, ADMIN};
use serde_json::{json, Value};
use tessera_claims::{KeyId, ProviderId};
use tessera_signer::{PemSigner, Signer as _};
use tessera_tests::ScratchDatabase;

fn tessera(args: &[&str], config: &Path) -> Output {
    Command::new(common::tessera_bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_config(dir: &Path, name: &str, database_url: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("listen = \"127.0.0.1:0\"\ndatabase_url = \"{database_url}\"\n"),
    )
    .unwrap();
    path
}

/// `migrate` prints the version; a database with a migration this build
/// does not carry is refused by `migrate` and by `serve`, naming both versions.
async fn newer_schema_is_refused(database_url: &str, mark_newer: impl std::future::Future) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "authority", database_url);
    let out = tessera(&["authority", "migrate"], &config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with(": schema version 7\n"),
        "{}",
        text(&out.stdout)
    );
    // Idempotent.
    let again = tessera(&["authority", "migrate"], &config);
    assert_eq!(text(&again.stdout), text(&out.stdout));

    mark_newer.await;
    let expected = "schema is at version 20991231000000, newer than this tessera knows (up to 7)";
    let out = tessera(&["authority", "migrate"], &config);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(expected),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(common::tessera_bin())
        .args(["authority", "serve", "--config"])
        .arg(&config)
        .env("TESSERA_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(expected),
        "{}",
        text(&out.stderr)
    );
}

const FUTURE_MIGRATION: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (20991231000000, 'from a newer tessera', TRUE, '\\x00', 0)";

#[tokio::test]
async fn a_newer_sqlite_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("authority.db").display());
    let mark = async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(&FUTURE_MIGRATION.replace("'\\x00'", "x'00'"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    };
    newer_schema_is_refused(&url, mark).await;
}

#[tokio::test]
async fn a_newer_postgres_schema_is_refused() {
    let db = ScratchDatabase::create().await;
    let url = db.url.clone();
    let mark = async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(FUTURE_MIGRATION).execute(&pool).await.unwrap();
        pool.close().await;
    };
    newer_schema_is_refused(&db.url, mark).await;
    drop(db);
}

/// A session attempt at `url` with a token from `signer`: the status and reason.
async fn sign_in(
    http: &reqwest::Client,
    url: &str,
    app_id: &str,
    provider: ProviderId,
    signer: &PemSigner,
) -> (u16, Option<String>) {
    let token = token_at(http, url, app_id, provider, signer, "moved-user").await;
    let r = http
        .post(format!("{url}/sessions"))
        .json(&json!({"app_id": app_id, "identity_token": token}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["data"]["reason"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn apps_and_keys_move_from_sqlite_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let sqlite = format!("sqlite://{}", dir.path().join("authority.db").display());
    let source_config = write_config(dir.path(), "source", &sqlite);

    // Two apps at the source, one with a revoked key.
    let source = start_authority(
        dir.path(),
        "source-serve",
        &std::fs::read_to_string(&source_config).unwrap(),
    );
    let (active, retired, other) = (new_signer(), new_signer(), new_signer());
    let (app_a, provider_a) = register_app(&http, &source.url, &[&active, &retired]).await;
    let (app_b, provider_b) = register_app(&http, &source.url, &[&other]).await;
    http.delete(format!(
        "{}/admin/keys/{}",
        source.url,
        encode(&retired.key_id().to_string())
    ))
    .bearer_auth(ADMIN)
    .send()
    .await
    .unwrap()
    .error_for_status()
    .unwrap();
    drop(source);

    let export_path = dir.path().join("export.json");
    let out = tessera(
        &[
            "authority",
            "export",
            "--out",
            export_path.to_str().unwrap(),
        ],
        &source_config,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("exported 2 apps and 3 keys"),
        "{}",
        text(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&export_path).unwrap()).unwrap();
    assert_eq!(doc["format"], "tessera-authority-export/v1");
    let exported_a = doc["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == app_a.as_str())
        .unwrap();
    assert_eq!(exported_a["provider_id"], provider_a.to_string());
    let revoked: Vec<_> = exported_a["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| !k["revoked_at"].is_null())
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(revoked, [retired.key_id().to_string()]);
    assert!(!doc.to_string().contains("PRIVATE"));

    // Into PostgreSQL; twice: the second import changes nothing.
    let pg_config = write_config(dir.path(), "target", &env("TESSERA_TEST_POSTGRES_URL"));
    let import =
        |path: &Path| tessera(&["authority", "import", path.to_str().unwrap()], &pg_config);
    let out = import(&export_path);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("apps 2 created, 0 unchanged; keys 3 created, 0 unchanged, 0 revoked"),
        "{}",
        text(&out.stderr)
    );
    let out = import(&export_path);
    assert!(
        text(&out.stderr)
            .contains("apps 0 created, 2 unchanged; keys 0 created, 3 unchanged, 0 revoked"),
        "{}",
        text(&out.stderr)
    );

    // The target serves the moved apps: the active keys sign in, the revoked one does not.
    let target = start_authority(
        dir.path(),
        "target-serve",
        &std::fs::read_to_string(&pg_config).unwrap(),
    );
    assert_eq!(
        sign_in(&http, &target.url, &app_a, provider_a, &active).await,
        (201, None)
    );
    assert_eq!(
        sign_in(&http, &target.url, &app_b, provider_b, &other).await,
        (201, None)
    );
    assert_eq!(
        sign_in(&http, &target.url, &app_a, provider_a, &retired).await,
        (422, Some("revoked_key".to_owned()))
    );

    // A conflicting document writes nothing, not even its new apps.
    let mut changed = doc.clone();
    let fresh = serde_json::json!({
        "app_id": format!("layer:///apps/staging/{}", KeyId::generate().uuid()),
        "provider_id": ProviderId::generate().to_string(),
        "environment": "staging",
        "name": "new",
        "created_at": 1,
        "keys": [],
    });
    changed["apps"]
        .as_array_mut()
        .unwrap()
        .insert(0, fresh.clone());
    for app in changed["apps"].as_array_mut().unwrap() {
        if app["app_id"] == app_b.as_str() {
            app["name"] = json!("renamed");
        }
    }
    let changed_path = dir.path().join("changed.json");
    std::fs::write(&changed_path, changed.to_string()).unwrap();
    let out = import(&changed_path);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("app {app_b} exists with other settings")),
        "{}",
        text(&out.stderr)
    );
    let r = http
        .get(format!(
            "{}/admin/apps/{}",
            target.url,
            encode(fresh["app_id"].as_str().unwrap())
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // A key whose fingerprint does not match its public key is refused.
    let mut forged = doc.clone();
    forged["apps"][0]["keys"][0]["fingerprint"] = json!("SHA256:AAAA");
    let forged_path = dir.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let out = import(&forged_path);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the fingerprint does not match the public key"),
        "{}",
        text(&out.stderr)
    );

    // Not an export at all.
    std::fs::write(dir.path().join("junk.json"), "{\"apps\": 3}").unwrap();
    let out = import(&dir.path().join("junk.json"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not an export document"),
        "{}",
        text(&out.stderr)
    );
}
