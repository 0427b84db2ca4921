//! Who performed an action: the administrator, a key holder (by key id) or a sign-up (by client
//! address). A leaf type: authentication records it in the request scope, and the audit trail
//! reads it from there, so neither of those modules imports the other.
use serde::{Deserialize, Serialize};

use crate::apikey::KeyId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    Admin,
    Key {
        #[serde(rename = "keyId")]
        key_id: KeyId,
    },
    Signup {
        #[serde(rename = "clientIp")]
        client_ip: String,
    },
}

impl Actor {
    /// The actor as one log field: `admin`, `key:<id>`, `signup:<address>`.
    pub(crate) fn label(&self) -> String {
        match self {
            Actor::Admin => "admin".to_owned(),
            Actor::Key { key_id } => format!("key:{key_id}"),
            Actor::Signup { client_ip } => format!("signup:{client_ip}"),
        }
    }
}
