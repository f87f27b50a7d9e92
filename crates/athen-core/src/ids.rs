//! Typed row identifiers, so that a mailbox id can never be passed where an
//! account id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// An account: an organisation or an individual provider.
    AccountId
);
id_type!(
    /// A directory entry: the organisation or person itself, or a staff member.
    EntryId
);
id_type!(
    /// A login name that can unlock a mailbox (the owner, or a named staff member).
    LoginId
);
id_type!(
    /// One credential (password, recovery code, app token) that wraps a mailbox secret.
    CredentialId
);
id_type!(
    /// A mailbox with its own key pair and data key.
    MailboxId
);
id_type!(
    /// A folder inside a mailbox.
    FolderId
);
id_type!(
    /// A message in a mailbox store.
    MessageId
);
id_type!(
    /// A sealed message waiting in the spool for its mailbox to be unlocked.
    SpoolId
);
id_type!(
    /// A server operator (administrator) login.
    OperatorId
);
id_type!(
    /// A message in the outbound queue.
    QueueId
);
id_type!(
    /// One recipient of a message in the outbound queue.
    QueueRecipientId
);
