//! The `aws-kms` backend: the key stays in AWS KMS; `Sign` with
//! `RSASSA_PKCS1_V1_5_SHA_256`, the public key fetched once.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyUsageType, MessageType as KmsMessageType, SigningAlgorithmSpec};
use aws_sdk_kms::Client;
use tessera_claims::{KeyId, PublicKey};
use tokio::sync::Semaphore;

use crate::config::{AwsKmsConfig, MessageType};
use crate::error::{Result, SignerError};
use crate::signer::{Signature, Signer};

const BACKEND: &str = "aws-kms";

/// KMS's limit for `MessageType=RAW`.
pub const RAW_MESSAGE_LIMIT: usize = 4096;

/// Signs with an RSA key held by AWS KMS.
pub struct KmsSigner {
    kid: KeyId,
    key_id: String,
    client: Client,
    public_key: PublicKey,
    message_type: MessageType,
    permits: Semaphore,
}

/// Maps an SDK error to a category, naming the key and the AWS error code
/// (never credentials).
fn sdk_error<E>(key_id: &str, operation: &str, e: SdkError<E>) -> SignerError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = e.code().unwrap_or("no error code").to_owned();
    let message = format!("{operation} on key {key_id:?} failed ({code})");
    let unavailable = matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
        || matches!(
            code.as_str(),
            "ThrottlingException"
                | "KMSInternalException"
                | "DependencyTimeoutException"
                | "KeyUnavailableException"
        );
    let source: crate::error::BoxError =
        format!("{message}: {}", e.message().unwrap_or_default()).into();
    match code.as_str() {
        _ if unavailable => SignerError::Unavailable {
            backend: BACKEND,
            source,
        },
        "NotFoundException" | "InvalidKeyId" => SignerError::KeyNotFound {
            backend: BACKEND,
            message,
            source: None,
        },
        "AccessDeniedException" | "UnrecognizedClientException" | "InvalidSignatureException" => {
            SignerError::PermissionDenied {
                backend: BACKEND,
                message,
                source: None,
            }
        }
        "DisabledException" | "KMSInvalidStateException" | "InvalidKeyUsageException" => {
            SignerError::InvalidKey {
                backend: BACKEND,
                message,
                source: None,
            }
        }
        _ => SignerError::Backend {
            backend: BACKEND,
            source,
        },
    }
}

impl KmsSigner {
    /// Builds the client (region, endpoint, profile from config; credentials
    /// from the standard AWS chain), fetches the public key once and checks
    /// that the key can sign EITs.
    pub async fn connect(c: &AwsKmsConfig) -> Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(c.timeout_secs.max(1)))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(c.max_attempts.clamp(1, 10)));
        if let Some(region) = &c.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &c.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &c.profile {
            loader = loader.profile_name(profile);
        }
        let client = Client::new(&loader.load().await);
        let out = client
            .get_public_key()
            .key_id(&c.key_id)
            .send()
            .await
            .map_err(|e| sdk_error(&c.key_id, "GetPublicKey", e))?;
        let invalid = |message: String| SignerError::InvalidKey {
            backend: BACKEND,
            message,
            source: None,
        };
        if out.key_usage() != Some(&KeyUsageType::SignVerify) {
            return Err(invalid(format!(
                "key {:?} is not a SIGN_VERIFY key",
                c.key_id
            )));
        }
        if !out
            .signing_algorithms()
            .contains(&SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
        {
            return Err(invalid(format!(
                "key {:?} does not offer RSASSA_PKCS1_V1_5_SHA_256 (not an RSA key?)",
                c.key_id
            )));
        }
        let der = out
            .public_key()
            .ok_or_else(|| invalid(format!("GetPublicKey returned no key for {:?}", c.key_id)))?;
        let public_key =
            PublicKey::from_der(der.as_ref()).map_err(|e| SignerError::InvalidKey {
                backend: BACKEND,
                message: format!("key {:?}", c.key_id),
                source: Some(Box::new(e)),
            })?;
        Ok(Self {
            kid: c.kid,
            key_id: c.key_id.clone(),
            client,
            public_key,
            message_type: c.message_type,
            permits: Semaphore::new(c.max_concurrency.clamp(1, 1024)),
        })
    }
}

impl fmt::Debug for KmsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsSigner")
            .field("kid", &self.kid)
            .field("key_id", &self.key_id)
            .field("message_type", &self.message_type)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Signer for KmsSigner {
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
        let (message, message_type) = match self.message_type {
            MessageType::Raw if signing_input.len() > RAW_MESSAGE_LIMIT => {
                return Err(SignerError::Config {
                    backend: BACKEND,
                    message: format!(
                        "a {}-byte signing input is over KMS's {RAW_MESSAGE_LIMIT}-byte RAW limit; set message_type = \"digest\"",
                        signing_input.len()
                    ),
                })
            }
            MessageType::Raw => (signing_input.to_vec(), KmsMessageType::Raw),
            MessageType::Digest => (
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, signing_input).as_ref().to_vec(),
                KmsMessageType::Digest,
            ),
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| SignerError::Backend {
                backend: BACKEND,
                source: Box::new(e),
            })?;
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(message))
            .message_type(message_type)
            .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
            .send()
            .await
            .map_err(|e| sdk_error(&self.key_id, "Sign", e))?;
        let signature = out.signature().ok_or_else(|| SignerError::Backend {
            backend: BACKEND,
            source: format!("Sign on key {:?} returned no signature", self.key_id).into(),
        })?;
        Ok(Signature(signature.as_ref().to_vec()))
    }
}
