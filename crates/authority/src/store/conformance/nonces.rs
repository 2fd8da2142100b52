//! [`NonceKeyStore`](crate::store::NonceKeyStore)'s part of the suite, and
//! [`NonceStore`](crate::store::NonceStore)'s (used-nonce marks kept apart).

use std::sync::Arc;

use super::fixtures::{random, random_id, used};
use crate::store::prelude::*;
use crate::store::{Marker, NonceKeyRecord, NonceStore};

/// Nonce MAC keys: the first one is added once, rotation retires the
/// active ones, and keys retired long ago are forgotten.
pub async fn nonce_keys(store: &dyn Store) {
    let key = |id: u32, at: i64| NonceKeyRecord {
        key_id: id,
        secret: random().to_vec(),
        created_at: at,
        retired_at: None,
    };
    let first = key(random_id(), 100);
    let keys = store.nonce_keys(&first).await.unwrap();
    let active: Vec<_> = keys.iter().filter(|k| k.retired_at.is_none()).collect();
    assert_eq!(active.len(), 1, "{keys:?}");
    let again = store.nonce_keys(&key(random_id(), 150)).await.unwrap();
    assert_eq!(again, keys, "a second candidate is not added");

    let second = key(random_id(), 200);
    store.rotate_nonce_key(&second, 0).await.unwrap();
    let keys = store.nonce_keys(&key(random_id(), 250)).await.unwrap();
    let active: Vec<_> = keys.iter().filter(|k| k.retired_at.is_none()).collect();
    assert_eq!(active, vec![&second]);
    assert!(keys
        .iter()
        .any(|k| k.key_id == active_before(&again) && k.retired_at == Some(200)));

    store
        .rotate_nonce_key(&key(random_id(), 300), 250)
        .await
        .unwrap();
    let keys = store.nonce_keys(&key(random_id(), 350)).await.unwrap();
    assert_eq!(keys.len(), 2, "keys retired before 250 are gone: {keys:?}");
    assert_eq!(
        keys.iter()
            .find(|k| k.key_id == second.key_id)
            .unwrap()
            .retired_at,
        Some(300)
    );
}

fn active_before(keys: &[NonceKeyRecord]) -> u32 {
    keys.iter().find(|k| k.retired_at.is_none()).unwrap().key_id
}

/// A separate used-nonce store: one mark per nonce, of 32 concurrent
/// markers exactly one wins, and a mark is taken back only by its own marker.
pub async fn nonce_marks(nonces: Arc<dyn NonceStore>, now: i64) {
    let nonce = used(now + 600);
    let marker = nonces.mark_used(&nonce, now).await.unwrap().unwrap();
    assert_eq!(nonces.mark_used(&nonce, now).await.unwrap(), None);
    nonces
        .unmark(&nonce, &Marker("someone else's".into()))
        .await
        .unwrap();
    assert_eq!(
        nonces.mark_used(&nonce, now).await.unwrap(),
        None,
        "another marker takes nothing back"
    );
    nonces.unmark(&nonce, &marker).await.unwrap();
    assert!(
        nonces.mark_used(&nonce, now).await.unwrap().is_some(),
        "a mark taken back leaves the nonce usable"
    );

    let contested = used(now + 600);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let n = nonces.clone();
        tasks.push(tokio::spawn(
            async move { n.mark_used(&contested, now).await },
        ));
    }
    let mut won = 0;
    for task in tasks {
        if task.await.unwrap().unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}
