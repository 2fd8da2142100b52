//! Control characters (C0, DEL, C1) in an identity token's string claims
//! are the token's fault: 422 `invalid_claim`, the nonce left unused, on
//! SQLite and on PostgreSQL alike (whose text columns hold no NUL).
//! `scripts/test` provides the PostgreSQL server; without it this fails.

use tessera_tests::authority as common;

use common::*;
use serde_json::{json, Value};
use tessera_tests::ScratchDatabase;

async fn refuses_control_characters(authority: &Authority) {
    let signer = new_signer();
    let app = authority.app_with_key(&signer).await;
    let h = header_for(&signer);
    for (claim, value) in [
        ("first_name", "Ada\u{0}"),
        ("last_name", "L\u{7}ovelace"),
        ("display_name", "\u{1b}[31mAda"),
        ("first_name", "Ada\u{7f}"),
        ("display_name", "Ada\u{85}"),
        ("avatar_url", "https://example.com/a\tb.png"),
    ] {
        let nonce = authority.nonce(Some(&app.app_id)).await;
        let mut claims = claims_json(&app.provider_id, &nonce);
        claims[claim] = Value::from(value);
        let token = sign_raw(&signer, &h, &claims).await;
        let (status, body) = authority.open_session(&app.app_id, &token).await;
        assert_eq!(reason(status, &body), "invalid_claim", "{claim}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("control character"),
            "{body}"
        );
        // The nonce was not burnt: the same nonce opens a session with clean claims.
        claims[claim] = json!(if claim == "avatar_url" {
            "https://example.com/a.png"
        } else {
            "Ada"
        });
        let clean = sign_raw(&signer, &h, &claims).await;
        let (status, body) = authority.open_session(&app.app_id, &clean).await;
        assert_eq!(status.as_u16(), 201, "{claim}: {body}");
    }
}

#[tokio::test]
async fn control_characters_are_refused_on_sqlite() {
    refuses_control_characters(&Authority::start().await).await;
}

#[tokio::test]
async fn control_characters_are_refused_on_postgres() {
    let db = ScratchDatabase::create().await;
    let url = db.url.clone();
    let authority = Authority::start_with(move |c| c.database_url = url).await;
    refuses_control_characters(&authority).await;
    // A NUL PostgreSQL cannot store, where no rule of the request refuses
    // it, is still the request's fault.
    let (status, body) = authority
        .admin(
            reqwest::Method::POST,
            "/admin/apps",
            Some(json!({"name": "nul\u{0}name", "environment": "staging"})),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cannot be stored"),
        "{body}"
    );
}
