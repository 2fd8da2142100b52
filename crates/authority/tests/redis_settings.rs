//! With used nonces in Redis, the authority reads Redis's eviction policy
//! at start and refuses one that can drop the marks before they expire.
//! Each case runs a Redis of its own (`TESSERA_TEST_REDIS_SERVER`, from
//! `scripts/test`); without it this fails.

use tessera_authority::{NonceBackend, OpenError};
use tessera_tests::authority::config_in;
use tessera_tests::redis_server::RedisServer;

/// Opens an authority whose used nonces live in a Redis started with `args`.
async fn open_with_redis(args: &[&str]) -> Result<(), OpenError> {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start_with(dir.path(), args);
    let mut config = config_in(dir.path());
    config.nonces.backend = NonceBackend::Redis;
    config.nonces.redis_url = Some(redis.url());
    tessera_authority::open(config, None).await.map(drop)
}

#[tokio::test]
async fn an_eviction_policy_that_can_drop_used_nonces_is_refused() {
    for policy in [
        "allkeys-lru",
        "allkeys-random",
        "volatile-lru",
        "volatile-ttl",
    ] {
        let refused = open_with_redis(&["--maxmemory-policy", policy])
            .await
            .expect_err(policy);
        let OpenError::Redis(e) = &refused else {
            panic!("{policy}: {refused:?}");
        };
        assert_eq!(e.policy, policy);
        let message = e.to_string();
        assert!(
            message.contains(policy) && message.contains("noeviction"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn noeviction_is_accepted_with_or_without_persistence() {
    open_with_redis(&["--maxmemory-policy", "noeviction"])
        .await
        .unwrap();
    open_with_redis(&["--maxmemory-policy", "noeviction", "--appendonly", "yes"])
        .await
        .unwrap();
}

#[tokio::test]
async fn persistence_is_read_so_that_a_redis_keeping_nothing_is_warned_of() {
    use tessera_authority::store::RedisNonceStore;
    for (args, persistent) in [
        (&[][..], false),
        (&["--appendonly", "yes"][..], true),
        (&["--save", "900 1"][..], true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let redis = RedisServer::start_with(dir.path(), args);
        let store = RedisNonceStore::connect(&redis.url(), "t:").await.unwrap();
        let settings = store.settings().await.unwrap();
        assert_eq!(settings.persistent, Some(persistent), "{args:?}");
        assert_eq!(settings.maxmemory_policy.as_deref(), Some("noeviction"));
    }
}
