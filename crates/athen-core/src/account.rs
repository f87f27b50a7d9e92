//! Accounts, their life cycle, and the logins and credentials that open them.

use crate::clock::UnixTime;
use crate::error::Invalid;
use crate::ids::{AccountId, CredentialId, EntryId, LoginId, MailboxId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Who an account belongs to (whitepaper, "New User Run-Through" step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// One mailbox for a whole practice, with its staff listed beneath.
    Organisation,
    /// A solo specialist, allied health provider or hospital doctor.
    Individual,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organisation => "organisation",
            Self::Individual => "individual",
        }
    }
}

impl FromStr for AccountKind {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s.trim().to_ascii_lowercase().as_str() {
            "organisation" | "organization" => Ok(Self::Organisation),
            "individual" => Ok(Self::Individual),
            _ => Err(Invalid::new(
                "Kind",
                "must be 'organisation' or 'individual'",
            )),
        }
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an account is in its life. Provisional accounts have registered but
/// not yet entered the code from the posted letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Provisional,
    Confirmed,
    Suspended,
    Closed,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisional => "provisional",
            Self::Confirmed => "confirmed",
            Self::Suspended => "suspended",
            Self::Closed => "closed",
        }
    }

    /// Whether the account may receive mail. Provisional accounts receive
    /// (the letter may take a week to arrive); suspended and closed do not.
    pub fn receives_mail(self) -> bool {
        matches!(self, Self::Provisional | Self::Confirmed)
    }

    /// Whether a login to the account is allowed.
    pub fn may_log_in(self) -> bool {
        matches!(self, Self::Provisional | Self::Confirmed)
    }

    /// The status an account moves to on `action`, or why it cannot.
    pub fn apply(self, action: StatusAction, was_confirmed: bool) -> Result<Self, String> {
        use AccountStatus::*;
        use StatusAction::*;
        match (self, action) {
            (Closed, _) => Err("the account is closed; a closed account cannot be changed".into()),
            (Provisional, Confirm) => Ok(Confirmed),
            (Confirmed, Confirm) => Err("the account is already confirmed".into()),
            (Suspended, Confirm) => {
                Err("the account is suspended; reinstate it instead of confirming it".into())
            }
            (Provisional | Confirmed, Suspend) => Ok(Suspended),
            (Suspended, Suspend) => Err("the account is already suspended".into()),
            (Suspended, Reinstate) => Ok(if was_confirmed {
                Confirmed
            } else {
                Provisional
            }),
            (_, Reinstate) => Err("only a suspended account can be reinstated".into()),
            (_, Close) => Ok(Closed),
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountStatus {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s {
            "provisional" => Ok(Self::Provisional),
            "confirmed" => Ok(Self::Confirmed),
            "suspended" => Ok(Self::Suspended),
            "closed" => Ok(Self::Closed),
            _ => Err(Invalid::new(
                "Status",
                "must be provisional, confirmed, suspended or closed",
            )),
        }
    }
}

/// Something an administrator (or the expiry sweep) does to an account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusAction {
    Confirm,
    Suspend,
    Reinstate,
    Close,
}

impl StatusAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Suspend => "suspend",
            Self::Reinstate => "reinstate",
            Self::Close => "close",
        }
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub kind: AccountKind,
    pub status: AccountStatus,
    /// The mailbox's e-mail address; also the owner's login name.
    pub address: String,
    /// Display name: the organisation's name, or the person's full name.
    pub name: String,
    /// The directory entry of the organisation or person.
    pub entry_id: EntryId,
    /// The mailbox currently in use (a credential reset without a surviving
    /// credential retires the old mailbox and starts a new one).
    pub mailbox_id: MailboxId,
    pub created_at: UnixTime,
    pub status_changed_at: UnixTime,
    pub confirmed_at: Option<UnixTime>,
    /// Set when a provisional account has been unconfirmed too long and was
    /// flagged for the administrator.
    pub flagged_at: Option<UnixTime>,
}

/// One entry in an account's history of status changes and administrative acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    pub account_id: AccountId,
    pub at: UnixTime,
    /// Who did it: `admin-cli`, `operator:<name>`, `system`, or a login name.
    pub actor: String,
    pub event: String,
    pub detail: String,
}

/// A name that can log in and unlock a mailbox: the account owner, or a
/// named staff member of an organisation with their own credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    pub id: LoginId,
    pub account_id: AccountId,
    /// What the person types as user name (lower case).
    pub name: String,
    /// For staff logins: the staff member's directory entry.
    pub staff_entry_id: Option<EntryId>,
    pub created_at: UnixTime,
    pub disabled_at: Option<UnixTime>,
}

/// The kinds of credential that wrap a mailbox secret. Any one of them unlocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// Something the person remembers; stretched with Argon2id.
    Password,
    /// A long random code shown once at registration, for when the password is lost.
    RecoveryCode,
    /// A named, revocable random token for the downloader or a mail program.
    AppToken,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::RecoveryCode => "recovery-code",
            Self::AppToken => "app-token",
        }
    }
}

impl FromStr for CredentialKind {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s {
            "password" => Ok(Self::Password),
            "recovery-code" => Ok(Self::RecoveryCode),
            "app-token" => Ok(Self::AppToken),
            _ => Err(Invalid::new("Credential kind", "unknown kind")),
        }
    }
}

/// The doors of the server a credential may open. A password opens every
/// door (the web app with its two-step code where one is set); an app
/// token never opens the web app, and opens only the doors chosen when it
/// was made, so the token on a downloader PC can fetch import files and
/// send the upload folder's letters, and nothing else (issue 20: a copied token must not own the practice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Doors(u8);

impl Doors {
    pub const NONE: Doors = Doors(0);
    /// The web app in a browser: passwords only.
    pub const WEB: Doors = Doors(1);
    /// The whole JSON API.
    pub const API: Doors = Doors(2);
    /// What the downloader (athen-fetch) uses of the JSON API: its
    /// session, the mailbox's state, the import files and the outbox for
    /// the upload folder. [`Doors::API`] includes it.
    pub const DOWNLOADER: Doors = Doors(4);
    pub const IMAP: Doors = Doors(8);
    /// SMTP submission (ports 587 and 465).
    pub const SUBMISSION: Doors = Doors(16);
    /// Every door an app token can be given.
    pub const ANY_TOKEN: Doors = Doors(2 | 4 | 8 | 16);
    /// What a password opens.
    pub const PASSWORD: Doors = Doors(1 | 2 | 4 | 8 | 16);

    /// The doors a token may be limited to, with their names as the
    /// command line and the web form give them.
    pub const NAMED: [(Doors, &'static str); 4] = [
        (Doors::DOWNLOADER, "downloader"),
        (Doors::API, "api"),
        (Doors::IMAP, "imap"),
        (Doors::SUBMISSION, "smtp"),
    ];

    /// Whether every door of `other` is among these; the whole API counts
    /// as its download routes too.
    pub fn contains(self, other: Doors) -> bool {
        let mine = if self.0 & Doors::API.0 != 0 {
            self.0 | Doors::DOWNLOADER.0
        } else {
            self.0
        };
        mine & other.0 == other.0
    }

    pub fn union(self, other: Doors) -> Doors {
        Doors(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    /// From stored bits; unknown bits are dropped, never granted.
    pub fn from_bits(bits: i64) -> Doors {
        Doors((bits & i64::from(Doors::PASSWORD.0)) as u8)
    }

    /// `downloader,imap`: names from [`Doors::NAMED`], or `all` for every
    /// door a token can have.
    pub fn parse(list: &str) -> Result<Doors, Invalid> {
        let mut doors = Doors::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name.eq_ignore_ascii_case("all") {
                doors = doors.union(Doors::ANY_TOKEN);
                continue;
            }
            let Some((d, _)) = Doors::NAMED
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(name))
            else {
                return Err(Invalid::new(
                    "Doors",
                    format!("{name:?} is not one of downloader, api, imap, smtp, all"),
                ));
            };
            doors = doors.union(*d);
        }
        if doors.is_empty() {
            return Err(Invalid::new("Doors", "name at least one door"));
        }
        Ok(doors)
    }

    /// The names of these doors, for lists.
    pub fn names(self) -> Vec<&'static str> {
        Doors::NAMED
            .iter()
            .filter(|(d, _)| self.0 & d.0 != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// A stored credential: the wrapped mailbox secret and how to derive the key
/// that unwraps it. Contains no secret in the clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub id: CredentialId,
    pub login_id: LoginId,
    pub mailbox_id: MailboxId,
    pub kind: CredentialKind,
    /// A name the user chose (app tokens), or empty.
    pub label: String,
    /// Opaque to the store: KDF parameters, salt and the AEAD-wrapped secret.
    pub wrapped: Vec<u8>,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    /// For app tokens: the doors it opens ([`Doors::ANY_TOKEN`] for those
    /// made before tokens had doors).
    pub doors: Doors,
}

/// A login's key for two-step sign-in (RFC 6238 one-time codes), sealed
/// with the mailbox data key; no secret in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub login_id: LoginId,
    /// The mailbox whose data key sealed the key.
    pub mailbox_id: MailboxId,
    pub sealed_key: Vec<u8>,
    /// The 30-second step of the last code accepted (RFC 6238 §5.2: each
    /// code is accepted once).
    pub last_step: i64,
    pub created_at: UnixTime,
}

/// A credential to be added; the store assigns the id.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub kind: CredentialKind,
    pub label: String,
    pub wrapped: Vec<u8>,
    /// For app tokens, the doors it opens; ignored for other kinds.
    pub doors: Doors,
}

/// A server operator: the person who confirms accounts and posts letters.
/// Operators have no mailbox and cannot read mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub id: crate::ids::OperatorId,
    pub name: String,
    pub login: String,
    /// KDF parameters, salt and verifier; opaque to the store.
    pub verifier: Vec<u8>,
    /// The two-step sign-in key, sealed with the server's key; `None`
    /// while two-step sign-in is off.
    pub totp_sealed: Option<Vec<u8>>,
    pub created_at: UnixTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccountStatus::*;
    use StatusAction::*;

    #[test]
    fn life_cycle() {
        assert_eq!(Provisional.apply(Confirm, false), Ok(Confirmed));
        assert_eq!(Confirmed.apply(Suspend, true), Ok(Suspended));
        assert_eq!(Suspended.apply(Reinstate, true), Ok(Confirmed));
        assert_eq!(Suspended.apply(Reinstate, false), Ok(Provisional));
        assert_eq!(Provisional.apply(Close, false), Ok(Closed));
        assert!(Closed.apply(Confirm, false).is_err());
        assert!(Closed.apply(Close, false).is_err());
        assert!(Confirmed.apply(Confirm, true).is_err());
        assert!(Confirmed.apply(Reinstate, true).is_err());
        assert!(Provisional.receives_mail() && !Suspended.receives_mail());
    }
}
