//! The storage traits. Services receive these as trait objects built once at
//! start-up, so that the SQLite + filesystem default and the PostgreSQL +
//! object-store scale-out are interchangeable. Nothing here may assume a
//! particular engine.

use crate::account::{
    Account, AccountEvent, AccountKind, AccountStatus, CredentialRecord, Login, NewCredential,
    Operator, TotpRecord,
};
use crate::audit::{AuditAnchor, AuditEntry, PendingAuditEvent, SealEntry};
use crate::clock::UnixTime;
use crate::directory::{DirectoryEntry, DirectoryHit, DirectoryQuery, EntryDetails, EntryRole};
use crate::error::StoreError;
use crate::ids::*;
use crate::mailbox::{
    FlagChange, FlagsStored, Folder, ImportFileRow, ImportState, IndexEntry, Mailbox,
    MailboxSettings, NewStoredMessage, SpoolEntry, StoredMessage,
};
use crate::queue::{AttemptOutcome, CachedPolicy, NewQueuedMessage, QueuedMessage};
use async_trait::async_trait;

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything needed to create an account in one atomic step: the account,
/// its directory entry, its mailbox (with standard folders), the owner's
/// login and the owner's credentials.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub kind: AccountKind,
    pub address: String,
    pub name: String,
    pub details: EntryDetails,
    pub public_key: String,
    pub credentials: Vec<NewCredential>,
    pub created_at: UnixTime,
    /// Hash of the confirmation code printed in the welcome letter.
    pub confirmation_hash: Option<Vec<u8>>,
}

/// What [`AccountStore::create_account`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedAccount {
    pub account_id: AccountId,
    pub entry_id: EntryId,
    pub mailbox_id: MailboxId,
    pub login_id: LoginId,
}

/// Which accounts to list.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub status: Option<AccountStatus>,
    pub kind: Option<AccountKind>,
    /// Only provisional accounts created before this time.
    pub provisional_before: Option<UnixTime>,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_account(&self, new: NewAccount) -> StoreResult<CreatedAccount>;
    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>>;
    /// The account of a login that is still on (not disabled): what every
    /// request of a session checks, in one lookup.
    async fn account_of_live_login(&self, login: LoginId) -> StoreResult<Option<Account>>;
    async fn account_by_address(&self, address: &str) -> StoreResult<Option<Account>>;
    /// Whether any account has an address in this domain (so the domain is
    /// one this server receives mail for).
    async fn domain_in_use(&self, domain: &str) -> StoreResult<bool>;
    async fn list_accounts(&self, filter: &AccountFilter) -> StoreResult<Vec<Account>>;
    /// Changes status and records the event in one step.
    async fn set_status(
        &self,
        id: AccountId,
        status: AccountStatus,
        event: AccountEvent,
    ) -> StoreResult<()>;
    /// Marks a provisional account as overdue for confirmation.
    async fn flag_account(&self, id: AccountId, event: AccountEvent) -> StoreResult<()>;
    async fn record_event(&self, event: AccountEvent) -> StoreResult<()>;
    async fn events(&self, id: AccountId) -> StoreResult<Vec<AccountEvent>>;
    /// What people did to accounts, newest first: every event whose actor
    /// is an operator (`operator:…`) or the command line (`admin-cli`),
    /// with the account's address; at most `limit`.
    async fn operator_events(&self, limit: u32) -> StoreResult<Vec<(AccountEvent, String)>>;
    async fn confirmation_hash(&self, id: AccountId) -> StoreResult<Option<Vec<u8>>>;
    /// Keeps a provisional account's welcome letter for printing: its
    /// confirmation code sealed with the server's key, and the code's hash
    /// as the account's confirmation hash. A second letter replaces the
    /// first (its code stops working) and records `event`. `NotFound`
    /// unless the account is provisional.
    async fn set_welcome_letter(
        &self,
        id: AccountId,
        confirmation_hash: Vec<u8>,
        sealed_code: Vec<u8>,
        event: AccountEvent,
    ) -> StoreResult<()>;
    /// Letters of provisional accounts, oldest first; posted ones too if
    /// `with_posted`.
    async fn welcome_letters(&self, with_posted: bool) -> StoreResult<Vec<WelcomeLetter>>;
    /// Records that the letter was posted. False if there is none.
    async fn mark_letter_posted(&self, id: AccountId, event: AccountEvent) -> StoreResult<bool>;
    /// Retires the account's mailbox (its mail stays, unreadable) and gives
    /// the account a new mailbox whose owner login has `credentials`. All
    /// credentials of the old mailbox are revoked. One atomic step.
    async fn replace_mailbox(
        &self,
        id: AccountId,
        public_key: String,
        credentials: Vec<NewCredential>,
        event: AccountEvent,
    ) -> StoreResult<MailboxId>;
}

/// A welcome letter kept for printing (see `AccountStore::set_welcome_letter`).
#[derive(Clone, Debug)]
pub struct WelcomeLetter {
    pub account_id: AccountId,
    /// The confirmation code, sealed with the server's queue key.
    pub sealed_code: Vec<u8>,
    pub created_at: UnixTime,
    pub posted_at: Option<UnixTime>,
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    async fn entry(&self, id: EntryId) -> StoreResult<Option<DirectoryEntry>>;
    async fn entries_of_account(&self, id: AccountId) -> StoreResult<Vec<DirectoryEntry>>;
    async fn add_entry(
        &self,
        account: AccountId,
        role: EntryRole,
        details: EntryDetails,
    ) -> StoreResult<EntryId>;
    async fn update_entry(&self, id: EntryId, details: EntryDetails) -> StoreResult<()>;
    async fn remove_entry(&self, id: EntryId) -> StoreResult<()>;
    async fn search(&self, query: &DirectoryQuery) -> StoreResult<Vec<DirectoryHit>>;
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn login_by_name(&self, name: &str) -> StoreResult<Option<Login>>;
    async fn login(&self, id: LoginId) -> StoreResult<Option<Login>>;
    async fn logins_of_account(&self, id: AccountId) -> StoreResult<Vec<Login>>;
    /// Adds a staff login with its first credential.
    async fn add_login(
        &self,
        account: AccountId,
        name: &str,
        staff_entry: Option<EntryId>,
        credential: NewCredential,
        at: UnixTime,
    ) -> StoreResult<(LoginId, CredentialId)>;
    async fn disable_login(&self, id: LoginId, at: UnixTime) -> StoreResult<()>;
    /// Credentials of a login that are not revoked, on its account's current mailbox.
    async fn live_credentials(&self, login: LoginId) -> StoreResult<Vec<CredentialRecord>>;
    async fn credential(&self, id: CredentialId) -> StoreResult<Option<CredentialRecord>>;
    async fn credentials_of_account(&self, id: AccountId) -> StoreResult<Vec<CredentialRecord>>;
    async fn add_credential(
        &self,
        login: LoginId,
        credential: NewCredential,
        at: UnixTime,
    ) -> StoreResult<CredentialId>;
    /// Replaces the wrapped secret of a credential (password change: re-wrap,
    /// never re-encrypt).
    async fn rewrap_credential(&self, id: CredentialId, wrapped: Vec<u8>) -> StoreResult<()>;
    async fn revoke_credential(&self, id: CredentialId, at: UnixTime) -> StoreResult<()>;
    async fn touch_credential(&self, id: CredentialId, at: UnixTime) -> StoreResult<()>;
    /// The login's two-step sign-in key, if it has one.
    async fn totp(&self, login: LoginId) -> StoreResult<Option<TotpRecord>>;
    /// Sets (or replaces) the login's two-step sign-in key.
    async fn set_totp(&self, record: TotpRecord) -> StoreResult<()>;
    /// Turns two-step sign-in off for the login.
    async fn remove_totp(&self, login: LoginId) -> StoreResult<()>;
    /// Records that a code of `step` was accepted, in one statement, only
    /// if no code of that or a later step was: `false` means the code was
    /// already used (or an older one), and must be refused.
    async fn use_totp_step(&self, login: LoginId, step: i64) -> StoreResult<bool>;
}

#[async_trait]
pub trait MailboxStore: Send + Sync {
    async fn mailbox(&self, id: MailboxId) -> StoreResult<Option<Mailbox>>;
    async fn folders(&self, id: MailboxId) -> StoreResult<Vec<Folder>>;
    /// Adds a message metadata row, assigning the next UID of the folder.
    async fn add_message(&self, msg: NewStoredMessage) -> StoreResult<StoredMessage>;
    async fn messages(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
    ) -> StoreResult<Vec<StoredMessage>>;
    /// One page of a folder, newest first (by arrival): at most
    /// `limit` messages that arrived before `before` (exclusive; `None`
    /// starts at the newest). What an inbox page lists without reading
    /// the whole folder.
    async fn messages_page(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        before: Option<PageCursor>,
        limit: u32,
    ) -> StoreResult<Vec<StoredMessage>>;
    /// A message by its UID in a folder.
    async fn message_by_uid(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uid: u32,
    ) -> StoreResult<Option<StoredMessage>>;
    /// Moves a message to another folder of the same mailbox. It takes the
    /// next UID there: to a mail program it is a new message in its new
    /// folder (RFC 9051 §2.3.1.1). Flags, arrival and sealed data stay.
    async fn move_message(
        &self,
        mailbox: MailboxId,
        id: MessageId,
        to: FolderId,
    ) -> StoreResult<StoredMessage>;
    /// Removes a message for good; returns its blob key, for the caller to
    /// delete the sealed body.
    async fn delete_message(&self, mailbox: MailboxId, id: MessageId) -> StoreResult<String>;
    /// Every message of a folder as IMAP numbers it, by UID: what SELECT
    /// reads, without the sealed data.
    async fn folder_index(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
    ) -> StoreResult<Vec<IndexEntry>>;
    /// The messages of a folder that changed (or arrived) after
    /// mod-sequence `since`, by UID: what a selected folder catches up
    /// with, without reading the rest.
    async fn folder_changes(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        since: u64,
    ) -> StoreResult<Vec<IndexEntry>>;
    /// The messages of a folder whose UIDs are from `first` to `last`
    /// (inclusive), by UID.
    async fn messages_in_uid_range(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        first: u32,
        last: u32,
    ) -> StoreResult<Vec<StoredMessage>>;
    /// Changes the flags of the messages with `uids` in a folder, in one
    /// transaction with one new mod-sequence; with `unchanged_since`,
    /// leaves alone (and names) those changed after it (RFC 7162 §3.1.3).
    /// UIDs that are not there are skipped.
    async fn store_flags(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uids: &[u32],
        change: FlagChange,
        unchanged_since: Option<u64>,
    ) -> StoreResult<FlagsStored>;
    /// Moves the messages with `uids` from one folder to another in one
    /// transaction, in UID order; each takes the next UID there. Returns
    /// (old UID, new UID) of those moved (UIDs not there are skipped).
    async fn move_messages(
        &self,
        mailbox: MailboxId,
        from: FolderId,
        uids: &[u32],
        to: FolderId,
    ) -> StoreResult<Vec<(u32, u32)>>;
    /// Removes the messages with `uids` from a folder for good, in one
    /// transaction; returns each removed UID with its blob key.
    async fn expunge(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uids: &[u32],
    ) -> StoreResult<Vec<(u32, String)>>;
    /// UIDs removed from (or moved out of) a folder after mod-sequence
    /// `since`, ascending (RFC 7162 §3.2.5.1 VANISHED).
    async fn expunged_since(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        since: u64,
    ) -> StoreResult<Vec<u32>>;
    /// Octets of all the messages a mailbox keeps (RFC 9208 STORAGE).
    async fn mailbox_usage(&self, mailbox: MailboxId) -> StoreResult<u64>;
    async fn message(&self, id: MessageId) -> StoreResult<Option<StoredMessage>>;
    async fn count_messages(&self, mailbox: MailboxId) -> StoreResult<u64>;
    /// How many messages one folder holds.
    async fn count_in_folder(&self, mailbox: MailboxId, folder: FolderId) -> StoreResult<u64>;
    /// The patient register: keyed digests of name and date of birth
    /// ([`PatientKey`]) and the local patient number each was given.
    async fn patient_register(&self, mailbox: MailboxId) -> StoreResult<Vec<(PatientKey, u32)>>;
    /// Adds patients to the register. `State` (and nothing added) if a key
    /// or number is taken already (another unspool got there first).
    async fn add_patients(&self, mailbox: MailboxId, new: &[(PatientKey, u32)]) -> StoreResult<()>;
    /// Messages with an import file in any of `states`, oldest filed
    /// first, after message `after`, at most `limit`, leaving out those in
    /// folder `except` (the Trash).
    async fn import_files(
        &self,
        mailbox: MailboxId,
        states: &[ImportState],
        except: Option<FolderId>,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<ImportFileRow>>;
    /// One message's import file, if it has one.
    async fn import_file(
        &self,
        mailbox: MailboxId,
        message: MessageId,
    ) -> StoreResult<Option<ImportFileRow>>;
    /// Moves an import file from state `from` to `to` (counting a failure
    /// when `to` is `Failed`), and, in the same transaction, its message
    /// from folder `refile.0` to `refile.1` if it is still in the first.
    /// `None` if it was not in state `from` (another report came first).
    async fn set_import_state(
        &self,
        mailbox: MailboxId,
        message: MessageId,
        from: ImportState,
        to: ImportState,
        refile: Option<(FolderId, FolderId)>,
        at: UnixTime,
    ) -> StoreResult<Option<ImportFileRow>>;
    /// When the upload with this key (see migration 13) was sent, if it was.
    async fn upload_sent(&self, mailbox: MailboxId, key: &[u8]) -> StoreResult<Option<UnixTime>>;
    /// Records that the upload with this key was sent (once; again is no
    /// change).
    async fn record_upload(&self, mailbox: MailboxId, key: &[u8], at: UnixTime) -> StoreResult<()>;
    /// The owner's choices (defaults when never set).
    async fn settings(&self, mailbox: MailboxId) -> StoreResult<MailboxSettings>;
    async fn set_settings(&self, mailbox: MailboxId, settings: &MailboxSettings)
    -> StoreResult<()>;
}

/// A patient's name and date of birth as a keyed digest under the
/// mailbox's data key: the register holds no names.
pub type PatientKey = [u8; 32];

/// Where a page of a folder ends: the last message's arrival time, order
/// of arrival and UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub received_at: UnixTime,
    pub arrival: i64,
    pub uid: u32,
}

/// Told when mail has been spooled for mailboxes, after it is durable, so
/// an open mailbox can unspool it at once. Called on the writer's task: it
/// must only signal, never wait.
pub trait SpoolListener: Send + Sync {
    fn spooled(&self, mailboxes: &[MailboxId]);
}

#[async_trait]
pub trait SpoolStore: Send + Sync {
    /// Records a spool entry whose blob is already durably written.
    async fn add_spool_entry(
        &self,
        mailbox: MailboxId,
        blob_key: &str,
        size: u64,
        at: UnixTime,
    ) -> StoreResult<SpoolId>;
    /// Records several spool entries (one message for several mailboxes) in
    /// one transaction: all or none become visible.
    async fn add_spool_entries(
        &self,
        entries: &[(MailboxId, String)],
        size: u64,
        at: UnixTime,
    ) -> StoreResult<Vec<SpoolId>>;
    async fn spool_entries(&self, mailbox: MailboxId) -> StoreResult<Vec<SpoolEntry>>;
    /// How many entries wait in a mailbox's spool.
    async fn count_spool_entries(&self, mailbox: MailboxId) -> StoreResult<u64>;
    /// Moves a spool entry into the mailbox store in one step, together
    /// with the trail entries that say so (one per time in `audit`, sealed
    /// by `seal`), so that a crash leaves the message either spooled or
    /// stored and recorded, never both or neither.
    async fn unspool(
        &self,
        entry: SpoolId,
        msg: NewStoredMessage,
        audit: &[UnixTime],
        seal: &SealEntry<'_>,
    ) -> StoreResult<StoredMessage>;
    /// Removes a spool entry whose content went into the audit trail (a
    /// receipt) together with adding those trail entries, in one step.
    async fn consume_spool_entry(
        &self,
        entry: SpoolId,
        mailbox: MailboxId,
        audit: &[UnixTime],
        seal: &SealEntry<'_>,
    ) -> StoreResult<()>;
}

/// The per-mailbox audit trail (see [`crate::audit`]).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Keeps an event sealed to the mailbox's public key until the next
    /// unlock merges it. Needs no secret.
    async fn add_pending_audit(
        &self,
        mailbox: MailboxId,
        at: UnixTime,
        sealed: Vec<u8>,
    ) -> StoreResult<()>;
    async fn pending_audit(&self, mailbox: MailboxId) -> StoreResult<Vec<PendingAuditEvent>>;
    /// Appends one entry per time in `times` (sealed by `seal` once its
    /// place is known) and removes the `merged` pending events, in one
    /// transaction. Returns the new entries' sequence numbers; `NotFound`
    /// (and nothing changed) if one of `merged` is gone already.
    async fn append_audit(
        &self,
        mailbox: MailboxId,
        times: &[UnixTime],
        merged: &[i64],
        seal: &SealEntry<'_>,
    ) -> StoreResult<Vec<u64>>;
    /// The kept part of a trail: its anchor and its entries in order.
    async fn audit_trail(&self, mailbox: MailboxId) -> StoreResult<(AuditAnchor, Vec<AuditEntry>)>;
    /// The entries after `seq`, in order (a reader catching up).
    async fn audit_entries_after(
        &self,
        mailbox: MailboxId,
        seq: u64,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// Removes the entries older than `before` from the start of the trail
    /// (retention), moving its anchor so the rest still checks. Returns
    /// how many were removed.
    async fn expire_audit(&self, mailbox: MailboxId, before: UnixTime) -> StoreResult<u64>;
    /// Every mailbox that has a trail or pending events.
    async fn audited_mailboxes(&self) -> StoreResult<Vec<MailboxId>>;
}

#[async_trait]
pub trait OperatorStore: Send + Sync {
    async fn operator_by_login(&self, login: &str) -> StoreResult<Option<Operator>>;
    async fn count_operators(&self) -> StoreResult<u64>;
    /// Sets (or with `None` removes) an operator's sealed two-step key;
    /// the last step used starts again.
    async fn set_operator_totp(&self, id: OperatorId, sealed: Option<Vec<u8>>) -> StoreResult<()>;
    /// Records that an operator's one-time code of `step` was used; false
    /// if that step or a later one was used already (RFC 6238 §5.2).
    async fn use_operator_totp_step(&self, id: OperatorId, step: i64) -> StoreResult<bool>;
    async fn add_operator(
        &self,
        name: &str,
        login: &str,
        verifier: Vec<u8>,
        at: UnixTime,
    ) -> StoreResult<OperatorId>;
    /// Stores the hash of the one-time token that lets the first operator be
    /// created, replacing any earlier one.
    async fn set_bootstrap_token(&self, hash: Vec<u8>, at: UnixTime) -> StoreResult<()>;
    /// Consumes the bootstrap token if `hash` matches; true if it did.
    async fn take_bootstrap_token(&self, hash: &[u8]) -> StoreResult<bool>;
}

/// The outbound queue (see [`crate::queue`]).
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Adds a message and its recipients in one transaction; returns its id.
    async fn enqueue(&self, msg: NewQueuedMessage) -> StoreResult<QueueId>;
    /// Messages with at least one recipient due for an attempt at `now`,
    /// oldest first, with all their recipients.
    async fn due_messages(&self, now: UnixTime, limit: u32) -> StoreResult<Vec<QueuedMessage>>;
    /// Every message still in the queue (for the operator).
    async fn queued_messages(&self) -> StoreResult<Vec<QueuedMessage>>;
    async fn queued_message(&self, id: QueueId) -> StoreResult<Option<QueuedMessage>>;
    /// Records attempt outcomes (one transaction), counting the attempt.
    async fn record_attempts(&self, outcomes: &[AttemptOutcome], at: UnixTime) -> StoreResult<()>;
    /// Marks recipients whose final state has been reported to the sender,
    /// and, if `delay` is set, that the message's one delay report went out.
    async fn mark_reported(
        &self,
        id: QueueId,
        recipients: &[QueueRecipientId],
        delay: bool,
    ) -> StoreResult<()>;
    /// Removes a message whose recipients are all final and reported;
    /// returns its blob key so the caller can delete the body. `None` if
    /// it still has work to do (nothing is removed then).
    async fn remove_finished(&self, id: QueueId) -> StoreResult<Option<String>>;
    /// Makes the waiting recipients of a message due at `now` (the
    /// operator's "retry now"); returns how many there were.
    async fn retry_now(&self, id: QueueId, now: UnixTime) -> StoreResult<u32>;
    /// The cached MTA-STS policy of a domain, expired or not.
    async fn mta_sts_policy(&self, domain: &str) -> StoreResult<Option<CachedPolicy>>;
    /// Keeps a domain's MTA-STS policy, replacing the one before.
    async fn save_mta_sts_policy(&self, policy: &CachedPolicy) -> StoreResult<()>;
}

/// Durable storage of opaque byte blobs (sealed spool entries, encrypted
/// messages). A successful `put` survives a crash or power loss; a failed or
/// interrupted `put` leaves nothing visible under the key.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: &[u8]) -> StoreResult<()>;
    async fn get(&self, key: &str) -> StoreResult<Vec<u8>>;
    async fn delete(&self, key: &str) -> StoreResult<()>;
}

/// Every metadata trait at once, for code that needs several of them (one
/// back-end implements them all). Blob storage stays separate because it may
/// live elsewhere (a filesystem, an object store).
pub trait MetadataStore:
    AccountStore
    + DirectoryStore
    + CredentialStore
    + MailboxStore
    + SpoolStore
    + OperatorStore
    + QueueStore
    + AuditStore
{
}

impl<T> MetadataStore for T where
    T: AccountStore
        + DirectoryStore
        + CredentialStore
        + MailboxStore
        + SpoolStore
        + OperatorStore
        + QueueStore
        + AuditStore
{
}
