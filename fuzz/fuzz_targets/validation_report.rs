//! The validation report over any string, and over any header and claims
//! bytes signed with the trusted key. Never a panic; the report serializes,
//! `valid` agrees with its findings, and a token the report calls valid is
//! one `verify` accepts at a time within its life (the report leaves expiry
//! and the nonce out).
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use tessera_claims::{validate, verify, Clock, Status};

fuzz_target!(|data: &[u8]| {
    let Some((_, token)) = common::token_from(data) else {
        return;
    };
    let key = common::trusted_key();
    let report = validate(&token, &key);
    serde_json::to_vec(&report).expect("the report serializes");
    let failed = report.findings.iter().any(|f| f.status == Status::Fail);
    assert_eq!(report.valid, !failed, "{report:?}");
    if report.valid {
        // The report leaves expiry out: at the token's own `iat`, a token
        // the report calls valid is one `verify` accepts.
        let iat = report
            .claims
            .as_ref()
            .and_then(|c| c.get("iat"))
            .and_then(|v| v.as_i64());
        let iat = iat.expect("a valid report has an integer iat");
        if (0..=100_000_000_000).contains(&iat) {
            if let Err(r) = verify(&token, &key, Clock::at(iat)) {
                panic!("the report calls valid a token verify refuses ({r:?}): {report:?}");
            }
        }
    }
});
