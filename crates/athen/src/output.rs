//! How commands report results and errors: text for people, `--json` for
//! scripts, and exit codes scripts can rely on.

use athen_core::{Invalid, StoreError};
use athen_vault::VaultError;
use athen_vault::accounts::AccountError;
use serde_json::{Value, json};
use std::process::ExitCode;

/// Exit codes of `athen admin` and `athen mailbox` (documented in `--help`
/// and docs/operations.md).
pub mod exit {
    pub const OK: u8 = 0;
    /// Storage or other runtime failure; nothing was changed.
    pub const FAILURE: u8 = 1;
    /// Input not accepted (each problem is listed).
    pub const INVALID: u8 = 2;
    /// The account, login or thing named does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// Not allowed in the current state, or already exists.
    pub const CONFLICT: u8 = 4;
    /// The credential was not accepted (or too many attempts).
    pub const DENIED: u8 = 5;
}

/// A failed command: exit code, message, and any per-field problems.
#[derive(Debug)]
pub struct CommandError {
    pub code: u8,
    pub message: String,
    pub problems: Vec<Invalid>,
}

impl CommandError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(exit::INVALID, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(exit::NOT_FOUND, message)
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        let code = match e {
            StoreError::NotFound(_) => exit::NOT_FOUND,
            StoreError::Conflict(_) | StoreError::State(_) => exit::CONFLICT,
            StoreError::Corrupt(_) | StoreError::Io(_) => exit::FAILURE,
        };
        Self::new(code, e.to_string())
    }
}

impl From<VaultError> for CommandError {
    fn from(e: VaultError) -> Self {
        let code = match e {
            VaultError::BadCredential
            | VaultError::Throttled { .. }
            | VaultError::NotThisDoor(_)
            | VaultError::SecondStepNeeded
            | VaultError::AccountNotActive(_) => exit::DENIED,
            VaultError::Store(s) => return s.into(),
            _ => exit::FAILURE,
        };
        Self::new(code, e.to_string())
    }
}

impl From<AccountError> for CommandError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(problems) => Self {
                code: exit::INVALID,
                message: "the input was not accepted".into(),
                problems,
            },
            AccountError::Vault(v) => v.into(),
            AccountError::Store(s) => s.into(),
        }
    }
}

impl From<Invalid> for CommandError {
    fn from(i: Invalid) -> Self {
        Self {
            code: exit::INVALID,
            message: "the input was not accepted".into(),
            problems: vec![i],
        }
    }
}

impl From<athen_mail::MailError> for CommandError {
    fn from(e: athen_mail::MailError) -> Self {
        match e {
            athen_mail::MailError::Store(s) => s.into(),
            athen_mail::MailError::Vault(v) => v.into(),
            other => Self::invalid(other.to_string()),
        }
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(e: anyhow::Error) -> Self {
        Self::new(exit::FAILURE, format!("{e:#}"))
    }
}

/// Prints a result (JSON or text) and gives the exit code.
pub fn finish(json_mode: bool, result: Result<(Value, String), CommandError>) -> ExitCode {
    match result {
        Ok((value, text)) => {
            if json_mode {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".into())
                );
            } else if !text.is_empty() {
                println!("{}", text.trim_end());
            }
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            if json_mode {
                let problems: Vec<Value> = e
                    .problems
                    .iter()
                    .map(|p| json!({"field": p.field, "reason": p.reason}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"error": e.message, "problems": problems})
                    )
                    .unwrap_or_default()
                );
            }
            eprintln!("athen: {}", e.message);
            for p in &e.problems {
                eprintln!("  - {p}");
            }
            ExitCode::from(e.code)
        }
    }
}
