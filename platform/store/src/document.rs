//! Configuration documents: records the platform reads whole, stored as JSON with a few keys
//! the database indexes (id, unique name, global key).

use serde::{Serialize, de::DeserializeOwned};
use switchboard_domain::{
    BillingAccount, BusinessHours, ChannelEndpoint, ContactArrival, IvrFlow, Plugin, PluginSecret, Prompt, Queue,
    RoutingRules, SipAccount, Skill, SmsProvider, TenantId, Webhook,
};

use crate::{Page, PageRequest, Store, StoreError};

/// The kinds of configuration document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocKind {
    /// [`Skill`]
    Skill,
    /// [`Queue`]
    Queue,
    /// [`ChannelEndpoint`]
    Endpoint,
    /// [`BusinessHours`]
    BusinessHours,
    /// [`Webhook`]
    Webhook,
    /// The tenant's [`RoutingRules`] (one document, id [`ROUTING_RULES_ID`]).
    Settings,
    /// [`IvrFlow`]
    IvrFlow,
    /// [`SipAccount`] (id: the user's id; global key `sip:<username>`).
    SipAccount,
    /// [`Prompt`] (id: its name).
    Prompt,
    /// [`Plugin`] (id: its name).
    Plugin,
    /// [`PluginSecret`] (id: its name).
    PluginSecret,
    /// [`ContactArrival`] (id: the contact's id).
    ContactArrival,
}

/// The id of the tenant's routing-rules document.
pub const ROUTING_RULES_ID: &str = "routing-rules";
/// The id of the tenant's billing account document.
pub const BILLING_ACCOUNT_ID: &str = "billing";
/// The id of the tenant's SMS provider settings document.
pub const SMS_PROVIDER_ID: &str = "sms-provider";

impl DocKind {
    /// The stable name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            DocKind::Skill => "skill",
            DocKind::Queue => "queue",
            DocKind::Endpoint => "endpoint",
            DocKind::BusinessHours => "business_hours",
            DocKind::Settings => "settings",
            DocKind::Webhook => "webhook",
            DocKind::IvrFlow => "ivr_flow",
            DocKind::SipAccount => "sip_account",
            DocKind::Prompt => "prompt",
            DocKind::Plugin => "plugin",
            DocKind::PluginSecret => "plugin_secret",
            DocKind::ContactArrival => "contact_arrival",
        }
    }
}

/// A document as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    /// Its id.
    pub id: String,
    /// Unique within the tenant and kind.
    pub name: String,
    /// Unique across all tenants for the kind, if it has one (an endpoint's address).
    pub global_key: Option<String>,
    /// The JSON body.
    pub body: String,
}

/// A domain type stored as a configuration document.
pub trait Document: Serialize + DeserializeOwned + Send + Sync {
    /// Which kind.
    const KIND: DocKind;
    /// Its id as text.
    fn doc_id(&self) -> String;
    /// Its unique name.
    fn doc_name(&self) -> String;
    /// Its global key, if the kind has one.
    fn global_key(&self) -> Option<String> {
        None
    }

    /// Encodes for storage.
    fn to_stored(&self) -> Result<StoredDoc, StoreError> {
        let body = serde_json::to_string(self).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(StoredDoc { id: self.doc_id(), name: self.doc_name(), global_key: self.global_key(), body })
    }
    /// Decodes from storage.
    fn from_stored(doc: &StoredDoc) -> Result<Self, StoreError> {
        serde_json::from_str(&doc.body)
            .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", Self::KIND.as_str(), doc.id)))
    }
}

impl Document for Skill {
    const KIND: DocKind = DocKind::Skill;
    fn doc_id(&self) -> String {
        self.id.to_string()
    }
    fn doc_name(&self) -> String {
        self.name.clone()
    }
}

impl Document for Queue {
    const KIND: DocKind = DocKind::Queue;
    fn doc_id(&self) -> String {
        self.id.to_string()
    }
    fn doc_name(&self) -> String {
        self.name.clone()
    }
}

impl Document for IvrFlow {
    const KIND: DocKind = DocKind::IvrFlow;
    fn doc_id(&self) -> String {
        self.id.to_string()
    }
    fn doc_name(&self) -> String {
        self.name.clone()
    }
}

impl Document for Prompt {
    const KIND: DocKind = DocKind::Prompt;
    fn doc_id(&self) -> String {
        self.name.clone()
    }
    fn doc_name(&self) -> String {
        self.name.clone()
    }
}

impl Document for Plugin {
    const KIND: DocKind = DocKind::Plugin;
    fn doc_id(&self) -> String {
        self.name.clone()
    }
    fn doc_name(&self) -> String {
        self.name.clone()
    }
}

impl Document for ContactArrival {
    const KIND: DocKind = DocKind::ContactArrival;
    fn doc_id(&self) -> String {
        self.contact.id.to_string()
    }
    fn doc_name(&self) -> String {
        self.contact.id.to_string()
    }
}

impl Document for PluginSecret {
    const KIND: DocKind = DocKind::PluginSecret;
    fn doc_id(&self) -> String {
        self.name.clone()
    }
    fn doc_name(&self) -> String {
        self.name.clone()
    }
}

impl Document for SipAccount {
    const KIND: DocKind = DocKind::SipAccount;
    fn doc_id(&self) -> String {
        self.user_id.to_string()
    }
    fn doc_name(&self) -> String {
        self.username.clone()
    }
    fn global_key(&self) -> Option<String> {
        Some(sip_account_key(&self.username))
    }
}

/// The global key of a SIP user name (user names compare case-insensitively, like phones do).
pub fn sip_account_key(username: &str) -> String {
    format!("sip:{}", username.to_ascii_lowercase())
}

impl Document for BusinessHours {
    const KIND: DocKind = DocKind::BusinessHours;
    fn doc_id(&self) -> String {
        self.id.to_string()
    }
    fn doc_name(&self) -> String {
        self.name.clone()
    }
}

impl Document for Webhook {
    const KIND: DocKind = DocKind::Webhook;
    fn doc_id(&self) -> String {
        self.id.to_string()
    }
    fn doc_name(&self) -> String {
        self.name.clone()
    }
}

impl Document for SmsProvider {
    const KIND: DocKind = DocKind::Settings;
    fn doc_id(&self) -> String {
        SMS_PROVIDER_ID.into()
    }
    fn doc_name(&self) -> String {
        SMS_PROVIDER_ID.into()
    }
}

/// Found by its Stripe customer (global key `stripe_customer:<id>`) when Stripe's webhooks arrive.
impl Document for BillingAccount {
    const KIND: DocKind = DocKind::Settings;
    fn doc_id(&self) -> String {
        BILLING_ACCOUNT_ID.into()
    }
    fn doc_name(&self) -> String {
        BILLING_ACCOUNT_ID.into()
    }
    fn global_key(&self) -> Option<String> {
        self.customer_id.as_ref().map(|c| format!("stripe_customer:{c}"))
    }
}

impl Document for RoutingRules {
    const KIND: DocKind = DocKind::Settings;
    fn doc_id(&self) -> String {
        ROUTING_RULES_ID.into()
    }
    fn doc_name(&self) -> String {
        ROUTING_RULES_ID.into()
    }
}

impl Document for ChannelEndpoint {
    const KIND: DocKind = DocKind::Endpoint;
    fn doc_id(&self) -> String {
        self.id.to_string()
    }
    fn doc_name(&self) -> String {
        self.name.clone()
    }
    fn global_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.kind.as_str(), self.address))
    }
}

/// Typed access to documents on any store.
impl dyn Store {
    /// Inserts a document.
    pub async fn insert<D: Document>(&self, tenant: TenantId, doc: &D) -> Result<(), StoreError> {
        self.insert_doc(tenant, D::KIND, &doc.to_stored()?).await
    }
    /// Replaces a document.
    pub async fn update<D: Document>(&self, tenant: TenantId, doc: &D) -> Result<(), StoreError> {
        self.update_doc(tenant, D::KIND, &doc.to_stored()?).await
    }
    /// Reads a document.
    pub async fn get<D: Document>(&self, tenant: TenantId, id: &str) -> Result<Option<D>, StoreError> {
        self.doc(tenant, D::KIND, id).await?.map(|d| D::from_stored(&d)).transpose()
    }
    /// Lists documents of a kind.
    pub async fn list<D: Document>(&self, tenant: TenantId, page: &PageRequest) -> Result<Page<D>, StoreError> {
        let raw = self.list_docs(tenant, D::KIND, page).await?;
        let items = raw.items.iter().map(D::from_stored).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor: raw.next_cursor })
    }
    /// Every document of a kind (walks all pages); for loading configuration into memory.
    pub async fn all<D: Document>(&self, tenant: TenantId) -> Result<Vec<D>, StoreError> {
        let mut out = Vec::new();
        let mut page = PageRequest { limit: 200, after: None };
        loop {
            let p = self.list::<D>(tenant, &page).await?;
            out.extend(p.items);
            match p.next_cursor {
                Some(c) => page.after = Some(c),
                None => return Ok(out),
            }
        }
    }
    /// Deletes a document of a kind.
    pub async fn delete<D: Document>(&self, tenant: TenantId, id: &str) -> Result<(), StoreError> {
        self.delete_doc(tenant, D::KIND, id).await
    }
}
