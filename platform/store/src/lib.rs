//! The `Store` seam: everything the platform keeps, behind one trait.
//!
//! Architecture invariant: every repository call that touches tenant data takes the tenant
//! first, and an implementation never returns another tenant's rows for it. The only calls
//! without a tenant are the global directories a request needs before it knows its tenant
//! (login e-mail, endpoint address, processed bus messages, leases). This crate knows no SQL; the
//! implementations live in `switchboard-store-sql` (SQLite and PostgreSQL).

mod document;

use switchboard_domain::{
    ApiKey, ApiKeyId, ChannelMessage, Contact, ContactEvent, ContactId, EmailAddress, PluginCall, SessionId, Tenant,
    TenantId, UnixMillis, UsageKind, UsageRecord, UsageReport, User, UserId, UserStatus, WebhookDelivery, WebhookId,
};

pub use document::{
    BILLING_ACCOUNT_ID, DocKind, Document, ROUTING_RULES_ID, SMS_PROVIDER_ID, StoredDoc, sip_account_key,
};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; `what` names the rule in words an API error can show.
    #[error("conflict: {what}")]
    Conflict {
        /// E.g. "email already registered".
        what: String,
    },
    /// The record does not exist for this tenant.
    #[error("not found")]
    NotFound,
    /// Stored data could not be read back (a bug or a manual edit).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Backend(String),
    /// A fenced write refused: the writer's lease has moved on (another replica drives now).
    #[error("lease lost: {0}")]
    Fenced(String),
}

/// What a contact search asks for; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    /// State word (`queued`, `done`, `abandoned`...).
    pub state: Option<String>,
    /// Channel word (`voice`, `chat`, `sms`, `email`...).
    pub channel: Option<String>,
    /// Current (or last) queue.
    pub queue_id: Option<String>,
    /// Handling agent.
    pub agent_id: Option<String>,
    /// Part of the customer's identity, case-insensitive.
    pub customer: Option<String>,
    /// Enqueued at or after.
    pub since: Option<UnixMillis>,
    /// Enqueued before.
    pub until: Option<UnixMillis>,
}

/// A contact event with the contact's queue and channel: what interval statistics count.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantEvent {
    /// The contact.
    pub contact_id: ContactId,
    /// Its current (or last) queue.
    pub queue_id: String,
    /// Its channel word.
    pub channel: String,
    /// The event.
    pub event: ContactEvent,
}

/// Keyset pagination: at most `limit` items after the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1..=200.
    pub limit: u32,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { limit: 50, after: None }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in id (creation) order.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; None on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Maps the items, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// What logging in needs about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user's tenant.
    pub tenant_id: TenantId,
    /// The user.
    pub user_id: UserId,
    /// Argon2 PHC string; None until an invited user sets a password.
    pub password_hash: Option<String>,
    /// Whether they may log in.
    pub status: UserStatus,
}

/// A login session: one family of refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its id (carried in access tokens as `sid`).
    pub id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// When it started.
    pub created_at: UnixMillis,
    /// When it was ended by logout or refresh-token reuse.
    pub revoked_at: Option<UnixMillis>,
}

/// A refresh token as stored: only the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// The token id (public part of the token text).
    pub id: String,
    /// Its session (family).
    pub session_id: SessionId,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// When it stops working.
    pub expires_at: UnixMillis,
}

/// What happened when a refresh token was presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// First use: it is now spent, the caller issues the next token of the family.
    Fresh(Session),
    /// Used before: a stolen copy is in play. The whole session has been revoked.
    Reused,
    /// Unknown, expired, or its session is revoked.
    Invalid,
}

/// An API key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySecret {
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixMillis>,
}

/// A new tenant and its owner, written together or not at all.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// The tenant.
    pub tenant: Tenant,
    /// Its owner (role owner, status active).
    pub owner: User,
    /// The owner's argon2 hash.
    pub password_hash: String,
}

/// The store seam. Every implementation passes the shared conformance suite in
/// `switchboard-store-sql`'s tests, run against SQLite and PostgreSQL.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // --- tenants and users ---

    /// Creates a tenant with its owner. Conflict if the e-mail is taken.
    async fn create_tenant(&self, new: NewTenant) -> Result<(), StoreError>;
    /// A tenant by id.
    async fn tenant(&self, tenant: TenantId) -> Result<Option<Tenant>, StoreError>;
    /// Replaces a tenant's name and status.
    async fn update_tenant(&self, tenant: &Tenant) -> Result<(), StoreError>;

    /// Global login directory: which tenant and user an e-mail belongs to.
    async fn find_login(&self, email: &EmailAddress) -> Result<Option<Credentials>, StoreError>;
    /// Creates a user; `invite_hash` is the hash of an invitation secret. Conflict on e-mail.
    async fn create_user(&self, tenant: TenantId, user: &User, invite_hash: Option<&str>) -> Result<(), StoreError>;
    /// A user by id.
    async fn user(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StoreError>;
    /// A page of users.
    async fn list_users(&self, tenant: TenantId, page: &PageRequest) -> Result<Page<User>, StoreError>;
    /// Replaces a user's profile (name, e-mail, role, status, capacity, skills). NotFound if absent.
    async fn update_user(&self, tenant: TenantId, user: &User) -> Result<(), StoreError>;
    /// Deletes a user and their sessions. NotFound if absent.
    async fn delete_user(&self, tenant: TenantId, id: UserId) -> Result<(), StoreError>;
    /// Sets a password (argon2 hash), marks the user active and spends any invitation.
    async fn set_password(&self, tenant: TenantId, id: UserId, password_hash: &str) -> Result<(), StoreError>;
    /// The invited user whose invitation secret hashes to `invite_hash`.
    async fn find_invite(&self, tenant: TenantId, invite_hash: &str) -> Result<Option<UserId>, StoreError>;

    // --- sessions and refresh tokens ---

    /// Starts a session with its first refresh token.
    async fn create_session(&self, tenant: TenantId, session: &Session, first: &RefreshToken)
    -> Result<(), StoreError>;
    /// A session by id.
    async fn session(&self, tenant: TenantId, id: SessionId) -> Result<Option<Session>, StoreError>;
    /// Spends a refresh token atomically; see [`RefreshOutcome`]. Of two concurrent uses of one
    /// token exactly one is `Fresh`.
    async fn use_refresh_token(
        &self,
        tenant: TenantId,
        token_id: &str,
        secret_hash: &str,
        now: UnixMillis,
    ) -> Result<RefreshOutcome, StoreError>;
    /// Adds the next token of a live session.
    async fn add_refresh_token(&self, tenant: TenantId, token: &RefreshToken) -> Result<(), StoreError>;
    /// Ends a session (logout); its refresh tokens stop working.
    async fn revoke_session(&self, tenant: TenantId, id: SessionId, now: UnixMillis) -> Result<(), StoreError>;

    // --- API keys ---

    /// Stores a new key's metadata and secret hash.
    async fn create_api_key(&self, tenant: TenantId, key: &ApiKey, secret_hash: &str) -> Result<(), StoreError>;
    /// A page of keys (revoked ones left out).
    async fn list_api_keys(&self, tenant: TenantId, page: &PageRequest) -> Result<Page<ApiKey>, StoreError>;
    /// A key with its secret hash, for authentication.
    async fn api_key(&self, tenant: TenantId, id: ApiKeyId) -> Result<Option<(ApiKey, ApiKeySecret)>, StoreError>;
    /// Revokes a key. NotFound if absent or already revoked.
    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId, now: UnixMillis) -> Result<(), StoreError>;

    // --- configuration documents (skills, queues, endpoints, business hours) ---

    /// Inserts a document. Conflict on its name within the tenant or its global key.
    async fn insert_doc(&self, tenant: TenantId, kind: DocKind, doc: &StoredDoc) -> Result<(), StoreError>;
    /// Replaces a document. NotFound if absent; Conflict as for insert.
    async fn update_doc(&self, tenant: TenantId, kind: DocKind, doc: &StoredDoc) -> Result<(), StoreError>;
    /// A document by id.
    async fn doc(&self, tenant: TenantId, kind: DocKind, id: &str) -> Result<Option<StoredDoc>, StoreError>;
    /// A page of documents of a kind.
    async fn list_docs(
        &self,
        tenant: TenantId,
        kind: DocKind,
        page: &PageRequest,
    ) -> Result<Page<StoredDoc>, StoreError>;
    /// Deletes a document. NotFound if absent.
    async fn delete_doc(&self, tenant: TenantId, kind: DocKind, id: &str) -> Result<(), StoreError>;
    /// Global directory: which tenant owns a document's global key (e.g. a phone number).
    async fn find_by_global_key(&self, kind: DocKind, key: &str) -> Result<Option<(TenantId, StoredDoc)>, StoreError>;

    // --- contacts ---

    /// Stores a new contact with its first event. Conflict if the id exists.
    async fn create_contact(&self, tenant: TenantId, contact: &Contact, first: &ContactEvent)
    -> Result<(), StoreError>;
    /// Replaces a contact's row and appends its next event (seq assigned here), atomically.
    async fn update_contact(&self, tenant: TenantId, contact: &Contact, event: &ContactEvent)
    -> Result<(), StoreError>;
    /// A contact by id.
    async fn contact(&self, tenant: TenantId, id: ContactId) -> Result<Option<Contact>, StoreError>;
    /// A contact's events, in order.
    async fn contact_events(&self, tenant: TenantId, id: ContactId) -> Result<Vec<ContactEvent>, StoreError>;
    /// A page of contacts in creation order.
    async fn list_contacts(&self, tenant: TenantId, page: &PageRequest) -> Result<Page<Contact>, StoreError>;
    /// A page of contacts matching the filter, newest first (the cursor is the last id seen).
    async fn search_contacts(
        &self,
        tenant: TenantId,
        filter: &ContactFilter,
        page: &PageRequest,
    ) -> Result<Page<Contact>, StoreError>;
    /// Events of the given kinds that happened in `[since, until)`, in time order.
    async fn events_between(
        &self,
        tenant: TenantId,
        since: UnixMillis,
        until: UnixMillis,
        kinds: &[&str],
    ) -> Result<Vec<TenantEvent>, StoreError>;
    /// Every contact not in a terminal state, oldest first: what a routing shard rebuilds from.
    async fn open_contacts(&self, tenant: TenantId) -> Result<Vec<Contact>, StoreError>;
    /// Global directory: every tenant id (to warm routing shards on start).
    async fn tenant_ids(&self) -> Result<Vec<TenantId>, StoreError>;

    /// A customer's contacts on every channel (same phone number or e-mail), newest first.
    async fn contacts_of_customer(
        &self,
        tenant: TenantId,
        customer: &str,
        limit: u32,
    ) -> Result<Vec<Contact>, StoreError>;

    /// The open (not terminal) contact of a conversation thread, if any.
    async fn open_contact_by_thread(&self, tenant: TenantId, thread_key: &str) -> Result<Option<Contact>, StoreError>;

    // --- text-channel messages ---

    /// Stores a message, numbering it next in its conversation; the stored message and true. When
    /// its provider id is already stored nothing is written and the stored one comes back with
    /// false, so a provider's retry, a replayed webhook or a client's resend is recorded once.
    async fn insert_message(
        &self,
        tenant: TenantId,
        message: &ChannelMessage,
    ) -> Result<(ChannelMessage, bool), StoreError>;
    /// A message by provider id.
    async fn message_by_provider_id(
        &self,
        tenant: TenantId,
        provider_id: &str,
    ) -> Result<Option<ChannelMessage>, StoreError>;
    /// Updates a message's status by provider id. NotFound if unknown.
    async fn set_message_status(&self, tenant: TenantId, provider_id: &str, status: &str) -> Result<(), StoreError>;
    /// A conversation's messages, oldest first.
    async fn messages(&self, tenant: TenantId, contact: ContactId) -> Result<Vec<ChannelMessage>, StoreError> {
        self.messages_after(tenant, contact, 0, u32::MAX).await
    }
    /// At most `limit` messages of a conversation numbered after `after`, in order (resuming).
    async fn messages_after(
        &self,
        tenant: TenantId,
        contact: ContactId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChannelMessage>, StoreError>;
    /// Records (true) or lifts (false) an SMS opt-out for a pair of numbers.
    async fn set_opt_out(
        &self,
        tenant: TenantId,
        ours: &str,
        theirs: &str,
        opted_out: bool,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Whether a customer number opted out of one of our numbers.
    async fn is_opted_out(&self, tenant: TenantId, ours: &str, theirs: &str) -> Result<bool, StoreError>;

    // --- webhook deliveries ---

    /// Records a delivery to attempt; false (and nothing written) when that endpoint already has
    /// this event, so a redelivered event is sent once.
    async fn create_delivery(&self, tenant: TenantId, delivery: &WebhookDelivery) -> Result<bool, StoreError>;
    /// Saves a delivery's progress.
    async fn update_delivery(&self, tenant: TenantId, delivery: &WebhookDelivery) -> Result<(), StoreError>;
    /// A page of an endpoint's deliveries, newest first.
    async fn list_deliveries(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError>;
    /// Pending deliveries due by `now` (to resume after a restart).
    async fn due_deliveries(
        &self,
        tenant: TenantId,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    // --- bus consumers ---

    /// Records that `consumer` handled message `message_id`; true the first time only.
    async fn record_processed(&self, consumer: &str, message_id: &str, now: UnixMillis) -> Result<bool, StoreError>;

    // --- metered usage (a message with SMS segments records its own, with it) ---

    /// Records billable usage once per (kind, source); false when it was already recorded.
    async fn record_usage(&self, tenant: TenantId, record: &UsageRecord) -> Result<bool, StoreError>;
    /// Totals per kind of the usage that happened in `[from, to)`.
    async fn usage_totals(
        &self,
        tenant: TenantId,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<(UsageKind, u64)>, StoreError>;
    /// Seals every unreported record of `kind` into a new report `id`; None when there was none.
    async fn seal_usage_report(
        &self,
        tenant: TenantId,
        kind: UsageKind,
        id: &str,
        now: UnixMillis,
    ) -> Result<Option<UsageReport>, StoreError>;
    /// Reports sealed but not yet accepted by Stripe, oldest first.
    async fn unsent_usage_reports(&self, tenant: TenantId) -> Result<Vec<UsageReport>, StoreError>;
    /// Marks a report as accepted by Stripe.
    async fn mark_usage_report_sent(&self, tenant: TenantId, id: &str, now: UnixMillis) -> Result<(), StoreError>;
    /// The newest reports, newest first.
    async fn usage_reports(&self, tenant: TenantId, limit: u32) -> Result<Vec<UsageReport>, StoreError>;

    // --- plugins ---

    /// A key of the tenant's plugin key-value store.
    async fn plugin_kv_get(&self, tenant: TenantId, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a key; a new key beyond `max_keys` for the tenant is a [`StoreError::Conflict`].
    async fn plugin_kv_set(
        &self,
        tenant: TenantId,
        key: &str,
        value: &str,
        max_keys: u32,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Deletes a key (absent is fine).
    async fn plugin_kv_delete(&self, tenant: TenantId, key: &str) -> Result<(), StoreError>;
    /// Records a plugin call, and forgets the tenant's calls older than `forget_before`.
    async fn record_plugin_call(
        &self,
        tenant: TenantId,
        call: &PluginCall,
        forget_before: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The newest calls of a plugin (newest first), before the id `before` if given.
    async fn plugin_calls(
        &self,
        tenant: TenantId,
        plugin: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PluginCall>, StoreError>;

    // --- distributed mode ---

    /// Takes or renews the lease `name` for `holder` for `ttl_ms` (by the database's clock): it
    /// succeeds when the lease is free, expired, or already `holder`'s, and answers its epoch,
    /// which grows each time the lease changes hands; `None` while another holder has it.
    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<Option<u64>, StoreError>;
    /// Gives up `holder`'s lease `name` at once (nothing happens if someone else holds it).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// [`Store::update_contact`], but only while `fence`'s holder still has the lease at its epoch
    /// ([`StoreError::Fenced`] otherwise, nothing written); the lease row is held for the
    /// transaction, so it cannot change hands between the check and the write.
    async fn update_contact_fenced(
        &self,
        tenant: TenantId,
        contact: &Contact,
        event: &ContactEvent,
        fence: &Fence,
    ) -> Result<(), StoreError>;
    /// The unexpired leases whose names start with `prefix`.
    async fn live_leases(&self, prefix: &str) -> Result<Vec<Lease>, StoreError>;
    /// Remembers an agent's presence (JSON of `Presence`), so routing can restore it elsewhere.
    async fn set_agent_presence(
        &self,
        tenant: TenantId,
        agent: UserId,
        presence: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The remembered presences of a tenant's agents.
    async fn agent_presences(&self, tenant: TenantId) -> Result<Vec<(UserId, String)>, StoreError>;
    /// Records what an edge said in its latest hello or heartbeat, heard now (database clock).
    async fn record_edge(&self, edge: &EdgeRecord) -> Result<(), StoreError>;
    /// Every edge recorded, by name, each with how many milliseconds ago (database clock) it was
    /// last heard from.
    async fn edges(&self) -> Result<Vec<(EdgeRecord, i64)>, StoreError>;
    /// Forgets an edge (decommissioned) if it has not been heard from for `silent_ms`; true when
    /// it was forgotten, false when it is unknown or was heard from since.
    async fn forget_edge(&self, edge_id: &str, silent_ms: i64) -> Result<bool, StoreError>;
}

/// An edge media node as the replica holding its control link last heard it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EdgeRecord {
    /// Its name.
    pub edge_id: String,
    /// Its region.
    pub region: String,
    /// Most calls it takes.
    pub capacity: u32,
    /// Its SIP address as peers reach it.
    pub sip: String,
    /// Calls in progress.
    pub active_calls: u32,
    /// SIP user names of the phones registered with it.
    pub registered: Vec<String>,
    /// The replica holding its link.
    pub replica: String,
}

/// A lease a writer must still hold for its write to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease (`shard:3`).
    pub lease: String,
    /// Its holder.
    pub holder: String,
    /// The epoch the holder took it at.
    pub epoch: u64,
}

/// A lease someone holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What it is for (`shard:3`, `node:ab12`).
    pub name: String,
    /// Who holds it.
    pub holder: String,
    /// Grows each time it changes hands.
    pub epoch: u64,
    /// When it runs out unless renewed (database clock, ms).
    pub expires_at: i64,
}
