//! VIP routing: every new contact's customer (phone number or e-mail address) is looked up in the
//! tenant's CRM over HTTPS; gold customers jump the line, platinum ones go first, and agents see
//! the tier and the customer's name. Answers are cached in the key-value store for ten minutes,
//! so a busy CRM is asked once per customer, not once per contact. If the CRM is slow or down,
//! the contact is routed as usual (the platform's time limits guarantee it).
//!
//! Settings (tenant secrets): `crm_url`, the CRM's API base (`https://crm.example.com/api`), and
//! `crm_token`, sent as a bearer token. The CRM answers `GET {crm_url}/customers/{customer}`
//! with `{"tier": "gold", "name": "Ada Lovelace"}`, or 404 for strangers. The host this plugin
//! may call is fixed when it is built: `VIP_CRM_HOST=crm.example.com cargo build ...`.

use switchboard_plugin_sdk::*;

/// The CRM's host name (the tenant grants exactly this host).
const CRM_HOST: &str = match option_env!("VIP_CRM_HOST") {
    Some(host) => host,
    None => "crm.example.com",
};

/// How long a CRM answer is trusted.
const CACHE_MS: u64 = 10 * 60 * 1000;

struct Vip;

/// What the CRM says about a customer.
struct Customer {
    tier: String,
    name: Option<String>,
}

impl Plugin for Vip {
    fn describe() -> Manifest {
        Manifest::hooks(&[Hook::OnContact]).http_hosts(&[CRM_HOST]).secrets(&["crm_url", "crm_token"]).kv()
    }

    fn on_contact(contact: Contact) -> ContactDecision {
        let Some(customer) = contact.customer.as_deref() else {
            return ContactDecision::default();
        };
        let found = match cached(customer) {
            Some(c) => c,
            None => match look_up(customer) {
                Ok(c) => {
                    remember(customer, &c);
                    c
                }
                Err(why) => {
                    log::warn(&format!("CRM look-up failed, routing as usual: {why}"));
                    return ContactDecision::default();
                }
            },
        };
        let mut attributes = vec![attr("tier", &found.tier)];
        if let Some(name) = &found.name {
            attributes.push(attr("customer_name", name));
        }
        let priority = match found.tier.as_str() {
            "platinum" => Some(100),
            "gold" => Some(90),
            _ => None,
        };
        if priority.is_some() {
            attributes.push(attr("vip", "yes"));
        }
        log::write(log::Level::Info, "customer looked up", &[attr("tier", &found.tier)]);
        ContactDecision::Route(Route { priority, attributes, ..Route::default() })
    }
}

fn look_up(customer: &str) -> Result<Customer, String> {
    let base = secrets::get("crm_url").unwrap_or_else(|| format!("https://{CRM_HOST}"));
    let token = secrets::get("crm_token").ok_or("the crm_token secret is not set or not granted")?;
    let url = format!("{}/customers/{}", base.trim_end_matches('/'), encode(customer));
    let auth = format!("Bearer {token}");
    let response =
        http::get(&url, &[("authorization", &auth), ("accept", "application/json")]).map_err(|e| format!("{e:?}"))?;
    match response.status {
        200 => {
            let body: serde_json::Value = serde_json::from_str(&response.body).map_err(|e| e.to_string())?;
            let tier = body["tier"].as_str().unwrap_or("standard").to_ascii_lowercase();
            Ok(Customer { tier, name: body["name"].as_str().map(str::to_owned) })
        }
        404 => Ok(Customer { tier: "unknown".into(), name: None }),
        status => Err(format!("the CRM answered {status}")),
    }
}

/// Cache entries are `expires-ms|tier|name`.
fn cached(customer: &str) -> Option<Customer> {
    let entry = kv::get(&format!("crm:{customer}")).ok().flatten()?;
    let mut parts = entry.splitn(3, '|');
    let expires: u64 = parts.next()?.parse().ok()?;
    if expires < clock::now_ms() {
        return None;
    }
    let tier = parts.next()?.to_owned();
    let name = parts.next().filter(|n| !n.is_empty()).map(str::to_owned);
    Some(Customer { tier, name })
}

fn remember(customer: &str, c: &Customer) {
    let entry = format!("{}|{}|{}", clock::now_ms() + CACHE_MS, c.tier, c.name.as_deref().unwrap_or(""));
    if let Err(e) = kv::set(&format!("crm:{customer}"), &entry) {
        log::warn(&format!("not cached: {e:?}"));
    }
}

/// Percent-encodes a path segment (`+4930…` → `%2B4930…`).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() * 3);
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

plugin!(Vip);
