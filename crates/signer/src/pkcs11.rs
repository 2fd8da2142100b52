//! The `pkcs11` backend: the key stays in an HSM; signing is
//! `CKM_SHA256_RSA_PKCS` in a pool of logged-in sessions, each used on a
//! blocking thread (sessions are `Send` but not `Sync`).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use tessera_claims::{KeyId, PublicKey};
use tokio::sync::Semaphore;

use crate::config::Pkcs11Config;
use crate::error::{Result, SignerError};
use crate::signer::{Signature, Signer};

const BACKEND: &str = "pkcs11";

/// Signs with a private key inside a PKCS#11 token.
pub struct Pkcs11Signer {
    kid: KeyId,
    public_key: PublicKey,
    token: Arc<Token>,
    idle: Arc<Mutex<Vec<(Session, ObjectHandle)>>>,
    permits: Arc<Semaphore>,
}

/// Everything needed to open a logged-in session and find the key again.
struct Token {
    context: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    template: Vec<Attribute>,
    describe: String,
}

fn ck(message: impl Into<String>) -> impl FnOnce(CkError) -> SignerError {
    let message = message.into();
    move |e| {
        let hint = match &e {
            CkError::Pkcs11(RvError::GeneralError, _) => {
                " (CKR_GENERAL_ERROR: with SoftHSM2 this usually means SOFTHSM2_CONF is unset or names a missing or unreadable file)"
            }
            CkError::Pkcs11(RvError::PinIncorrect, _) => " (wrong PIN)",
            _ => "",
        };
        let message = format!("{message}{hint}");
        match e {
            CkError::Pkcs11(
                RvError::PinIncorrect | RvError::PinLocked | RvError::PinExpired,
                _,
            ) => SignerError::PermissionDenied {
                backend: BACKEND,
                message,
                source: Some(Box::new(e)),
            },
            CkError::Pkcs11(
                RvError::DeviceRemoved | RvError::DeviceError | RvError::TokenNotPresent,
                _,
            ) => SignerError::Unavailable {
                backend: BACKEND,
                source: format!("{message}: {e}").into(),
            },
            other => SignerError::Backend {
                backend: BACKEND,
                source: format!("{message}: {other}").into(),
            },
        }
    }
}

impl Token {
    /// Opens a session, logs in (once per application is enough; a second
    /// login is not an error) and finds the key.
    fn session(&self) -> Result<(Session, ObjectHandle)> {
        let session = self
            .context
            .open_ro_session(self.slot)
            .map_err(ck("cannot open a session"))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(ck("cannot log in to the token")(e)),
        }
        let handle = self.find_key(&session)?;
        Ok((session, handle))
    }

    fn find_key(&self, session: &Session) -> Result<ObjectHandle> {
        let found = session
            .find_objects(&self.template)
            .map_err(ck("cannot search the token"))?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(SignerError::KeyNotFound {
                backend: BACKEND,
                message: format!("no RSA private key with {}", self.describe),
                source: None,
            }),
            many => Err(SignerError::Config {
                backend: BACKEND,
                message: format!(
                    "{} RSA private keys match {}; add `object_id` or a unique `key_label`",
                    many.len(),
                    self.describe
                ),
            }),
        }
    }
}

fn read_pin(c: &Pkcs11Config) -> Result<AuthPin> {
    let config = |message: String| SignerError::Config {
        backend: BACKEND,
        message,
    };
    let pin = match (&c.pin_env, &c.pin_file) {
        (Some(var), None) => std::env::var(var)
            .map_err(|_| config(format!("environment variable {var} (pin_env) is not set")))?,
        (None, Some(path)) => {
            let file = std::fs::File::open(path)
                .map_err(|e| config(format!("cannot read pin_file {}: {e}", path.display())))?;
            check_private(&file, path).map_err(config)?;
            std::io::read_to_string(file)
                .map_err(|e| config(format!("cannot read pin_file {}: {e}", path.display())))?
                .trim_end_matches(['\r', '\n'])
                .to_owned()
        }
        _ => return Err(config("set exactly one of `pin_env` and `pin_file`".into())),
    };
    Ok(AuthPin::from(pin))
}

/// Refuses a PIN file that anyone but its owner and group may read or write.
fn check_private(file: &std::fs::File, path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = file
        .metadata()
        .map_err(|e| format!("cannot read pin_file {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o007 != 0 {
        return Err(format!(
            "pin_file {} is accessible to other users (mode {:o}); run `chmod 600` on it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

/// Hex digits (optionally after `0x`) as bytes; `None` for anything else,
/// odd lengths and empty strings included.
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let digits = s.strip_prefix("0x").unwrap_or(s).as_bytes();
    if digits.is_empty() || digits.len() % 2 != 0 {
        return None;
    }
    let nibble = |b: u8| char::from(b).to_digit(16);
    digits
        .chunks_exact(2)
        .map(|pair| Some((nibble(pair[0])? << 4 | nibble(pair[1])?) as u8))
        .collect()
}

/// A loaded module, the tokens it showed (by label), and one logged-in
/// session per token used, kept open for the life of the process.
struct Module {
    context: Pkcs11,
    tokens: Vec<(String, Slot)>,
    anchors: HashMap<Slot, Session>,
}

/// PKCS#11 modules are process-wide: each is loaded and initialized once and
/// kept for the life of the process (unloading an initialized module crashes
/// some), and its slots are listed once. Login is per application, and
/// closing its last session logs it out: an anchor session per token keeps
/// the login while signers come and go. Returns the context and the slot of
/// the token labelled `token_label`.
fn open_token(module: &Path, token_label: &str, pin: &AuthPin) -> Result<(Pkcs11, Slot)> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Module>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !modules.contains_key(module) {
        let context = Pkcs11::new(module).map_err(|e| SignerError::Config {
            backend: BACKEND,
            message: format!("cannot load the PKCS#11 module {}: {e}", module.display()),
        })?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                return Err(ck(format!("C_Initialize of {} failed", module.display()))(
                    e,
                ))
            }
        }
        let tokens = list_tokens(&context)?;
        let entry = Module {
            context,
            tokens,
            anchors: HashMap::new(),
        };
        modules.insert(module.to_path_buf(), entry);
    }
    let Some(entry) = modules.get_mut(module) else {
        unreachable!("inserted above")
    };
    let slot = entry
        .tokens
        .iter()
        .find(|(label, _)| label == token_label)
        .map(|(_, slot)| *slot)
        .ok_or_else(|| SignerError::KeyNotFound {
            backend: BACKEND,
            message: format!(
                "no token labelled {token_label:?} in {} (tokens: {:?}){}",
                module.display(),
                entry
                    .tokens
                    .iter()
                    .map(|(l, _)| l.as_str())
                    .collect::<Vec<_>>(),
                if module.to_string_lossy().contains("softhsm") {
                    "; SoftHSM2 finds its tokens through the configuration file named by SOFTHSM2_CONF: check that it is set and names the right one"
                } else {
                    ""
                }
            ),
            source: None,
        })?;
    if !entry.anchors.contains_key(&slot) {
        let anchor = entry
            .context
            .open_ro_session(slot)
            .map_err(ck("cannot open a session"))?;
        match anchor.login(UserType::User, Some(pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(ck(format!("cannot log in to token {token_label:?}"))(e)),
        }
        entry.anchors.insert(slot, anchor);
    }
    Ok((entry.context.clone(), slot))
}

/// Logs this process out of the token, as a token reset or an HSM fail-over
/// would: every open session loses its login. Returns whether a session
/// opened afterwards is logged out. For tests of the signer's recovery.
#[cfg(feature = "test-util")]
#[doc(hidden)]
pub fn log_out_for_test(module: &Path, token_label: &str, pin: &str) -> Result<bool> {
    let (context, slot) = open_token(module, token_label, &AuthPin::new(pin.into()))?;
    let session = context
        .open_ro_session(slot)
        .map_err(ck("cannot open a session"))?;
    session.logout().map_err(ck("C_Logout failed"))?;
    let probe = context
        .open_ro_session(slot)
        .map_err(ck("cannot open a session"))?;
    let state = probe
        .get_session_info()
        .map_err(ck("C_GetSessionInfo failed"))?
        .session_state();
    Ok(state == cryptoki::session::SessionState::RoPublic)
}

fn list_tokens(context: &Pkcs11) -> Result<Vec<(String, Slot)>> {
    let slots = context
        .get_slots_with_token()
        .map_err(ck("cannot list slots"))?;
    Ok(slots
        .into_iter()
        .filter_map(|slot| {
            let info = context.get_token_info(slot).ok()?;
            Some((info.label().trim_end().to_owned(), slot))
        })
        .collect())
}

impl Pkcs11Signer {
    /// Loads the module, finds the token by label and the key by label
    /// and/or id, logs in, and opens the session pool.
    pub async fn connect(c: &Pkcs11Config) -> Result<Self> {
        let c = c.clone();
        tokio::task::spawn_blocking(move || Self::connect_blocking(&c))
            .await
            .map_err(|e| SignerError::Backend {
                backend: BACKEND,
                source: Box::new(e),
            })?
    }

    fn connect_blocking(c: &Pkcs11Config) -> Result<Self> {
        if c.key_label.is_none() && c.object_id.is_none() {
            return Err(SignerError::Config {
                backend: BACKEND,
                message: "set `key_label`, `object_id` or both".into(),
            });
        }
        if !(1..=64).contains(&c.sessions) {
            return Err(SignerError::Config {
                backend: BACKEND,
                message: format!("sessions = {} is out of range 1..=64", c.sessions),
            });
        }
        let pin = read_pin(c)?;
        let (context, slot) = open_token(&c.module, &c.token_label, &pin)?;
        let mut template = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
        ];
        let mut describe = Vec::new();
        if let Some(label) = &c.key_label {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
            describe.push(format!("label {label:?}"));
        }
        if let Some(id) = &c.object_id {
            let bytes = parse_hex(id).ok_or_else(|| SignerError::Config {
                backend: BACKEND,
                message: format!("object_id {id:?} is not hex"),
            })?;
            template.push(Attribute::Id(bytes));
            describe.push(format!("id {id}"));
        }
        let token = Token {
            context,
            slot,
            pin,
            template,
            describe: format!("{} on token {:?}", describe.join(" and "), c.token_label),
        };
        let (session, handle) = token.session()?;
        let attributes = session
            .get_attributes(
                handle,
                &[AttributeType::Modulus, AttributeType::PublicExponent],
            )
            .map_err(ck("cannot read the key's public attributes"))?;
        let (mut n, mut e) = (None, None);
        for a in attributes {
            match a {
                Attribute::Modulus(v) => n = Some(v),
                Attribute::PublicExponent(v) => e = Some(v),
                _ => {}
            }
        }
        let (Some(n), Some(e)) = (n, e) else {
            return Err(SignerError::InvalidKey {
                backend: BACKEND,
                message: format!(
                    "the key with {} exposes no modulus and exponent",
                    token.describe
                ),
                source: None,
            });
        };
        let public_key =
            PublicKey::from_components(&n, &e).map_err(|err| SignerError::InvalidKey {
                backend: BACKEND,
                message: format!("the key with {}", token.describe),
                source: Some(Box::new(err)),
            })?;
        let size = c.sessions.clamp(1, 64);
        let mut idle = vec![(session, handle)];
        for _ in 1..size {
            idle.push(token.session()?);
        }
        Ok(Self {
            kid: c.kid,
            public_key,
            token: Arc::new(token),
            idle: Arc::new(Mutex::new(idle)),
            permits: Arc::new(Semaphore::new(size)),
        })
    }
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("kid", &self.kid)
            .field("key", &self.token.describe)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// Errors after which a session is dropped and a fresh one opened.
fn session_broken(e: &SignerError) -> bool {
    matches!(
        e,
        SignerError::Backend { .. }
            | SignerError::Unavailable { .. }
            | SignerError::KeyNotFound { .. }
    )
}

#[async_trait]
impl Signer for Pkcs11Signer {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn key_id(&self) -> &KeyId {
        &self.kid
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    async fn sign(&self, signing_input: &[u8]) -> Result<Signature> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| SignerError::Backend {
                backend: BACKEND,
                source: Box::new(e),
            })?;
        let session = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let (token, idle, data) = (
            self.token.clone(),
            self.idle.clone(),
            signing_input.to_vec(),
        );
        tokio::task::spawn_blocking(move || {
            let sign = |(session, key): &(Session, ObjectHandle)| -> Result<Vec<u8>> {
                session
                    .sign(&Mechanism::Sha256RsaPkcs, *key, &data)
                    .map_err(ck("C_Sign failed"))
            };
            let entry = match session {
                Some(s) => s,
                None => token.session()?,
            };
            match sign(&entry) {
                Ok(sig) => {
                    idle.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
                    Ok(Signature(sig))
                }
                // The session (or login, or handle) was lost: reopen once, then give up.
                Err(e) if session_broken(&e) => {
                    tracing::warn!(error = %e, "PKCS#11 session lost; opening a new one and logging in again");
                    drop(entry);
                    let fresh = token.session()?;
                    let sig = sign(&fresh)?;
                    idle.lock().unwrap_or_else(|e| e.into_inner()).push(fresh);
                    Ok(Signature(sig))
                }
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| SignerError::Backend {
            backend: BACKEND,
            source: Box::new(e),
        })?
    }
}
