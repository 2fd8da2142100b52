//! Token parsing and verification: any string, and any header and claims
//! bytes signed with the trusted key (so that every check after the
//! signature is reached). Never a panic; an accepted token satisfies the
//! EIT v1 rules it was checked against.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use tessera_claims::{verify, Clock, ALG, CTY, TYP};

fuzz_target!(|data: &[u8]| {
    let Some((mode, token)) = common::token_from(data) else {
        return;
    };
    let key = common::trusted_key();
    let skew = i64::from(mode >> 1) * 8;
    let clock = Clock {
        now: common::NOW,
        skew_secs: skew,
    };
    if let Ok(verified) = verify(&token, &key, clock) {
        // Accepted: RS256 with the EIT header, by the key's provider, live.
        let header: serde_json::Value = {
            use base64::Engine as _;
            let encoded = token.split('.').next().unwrap();
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded)
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        };
        assert_eq!(header["alg"], ALG, "{token}");
        assert_eq!(header["typ"], TYP, "{token}");
        assert_eq!(header["cty"], CTY, "{token}");
        assert!(header.get("crit").is_none(), "{token}");
        let kid: tessera_claims::KeyId = header["kid"].as_str().unwrap().parse().unwrap();
        assert_eq!(kid, verified.key.kid, "{token}");
        assert_eq!(verified.claims.iss.to_string(), common::PROVIDER_ID);
        assert!(
            verified.claims.exp + skew >= common::NOW,
            "an expired token accepted: {token}"
        );
        assert!(!verified.claims.prn.as_str().is_empty());
    }
});
