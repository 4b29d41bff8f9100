//! Write Switchboard tenant plugins in Rust.
//!
//! A plugin is a type that implements [`Plugin`] — `describe` plus the hooks it wants; the rest
//! keep the platform's default — exported with [`plugin!`] and built with
//! `cargo build --release --target wasm32-wasip2`:
//!
//! ```ignore
//! use switchboard_plugin_sdk::*;
//!
//! struct Vip;
//!
//! impl Plugin for Vip {
//!     fn describe() -> Manifest {
//!         Manifest::hooks(&[Hook::OnContact])
//!     }
//!     fn on_contact(contact: Contact) -> ContactDecision {
//!         if contact.attribute("tier") == Some("gold") {
//!             return ContactDecision::Route(Route { priority: Some(90), ..Route::default() });
//!         }
//!         ContactDecision::default()
//!     }
//! }
//!
//! plugin!(Vip);
//! ```
//!
//! Host services: [`log`] (shown with each invocation), [`clock`], [`kv`] (if declared with
//! `kv: true` and granted), [`secrets`] and [`http`] (declared hosts only, granted by the tenant).
//! A plugin gets no files, sockets or environment.

/// The generated bindings of the `switchboard:plugin` world (what [`plugin!`] uses).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "switchboard_plugin_sdk::bindings",
    });
}

pub use bindings::switchboard::plugin::types::{
    Attribute, Channel, Contact, ContactDecision, FinishedContact, Hook, InboundMessage, IvrDecision, IvrState,
    Manifest, MessageDecision, OutgoingEmail, OutgoingSms, Route, WrapUpAction,
};
pub use bindings::switchboard::plugin::{clock, kv, secrets};

/// A tenant plugin: `describe` and whichever hooks it implements.
pub trait Plugin {
    /// Which hooks it implements and what it needs (read once, at upload).
    fn describe() -> Manifest;

    /// A new contact, before it is queued.
    fn on_contact(_contact: Contact) -> ContactDecision {
        ContactDecision::default()
    }

    /// An IVR `plugin` step: which branch to take.
    fn on_ivr(_state: IvrState) -> IvrDecision {
        IvrDecision { branch: None, attributes: Vec::new() }
    }

    /// A customer's chat or SMS message.
    fn on_message(_message: InboundMessage) -> MessageDecision {
        MessageDecision { reply: None, attributes: Vec::new(), queue: None }
    }

    /// After an agent finishes a contact: what to do.
    fn on_wrap_up(_finished: FinishedContact) -> Vec<WrapUpAction> {
        Vec::new()
    }
}

/// Exports a [`Plugin`] as the component's hooks.
#[macro_export]
macro_rules! plugin {
    ($t:ident) => {
        impl $crate::bindings::Guest for $t {
            fn describe() -> $crate::Manifest {
                <$t as $crate::Plugin>::describe()
            }
            fn on_contact(contact: $crate::Contact) -> $crate::ContactDecision {
                <$t as $crate::Plugin>::on_contact(contact)
            }
            fn on_ivr(state: $crate::IvrState) -> $crate::IvrDecision {
                <$t as $crate::Plugin>::on_ivr(state)
            }
            fn on_message(message: $crate::InboundMessage) -> $crate::MessageDecision {
                <$t as $crate::Plugin>::on_message(message)
            }
            fn on_wrap_up(finished: $crate::FinishedContact) -> ::std::vec::Vec<$crate::WrapUpAction> {
                <$t as $crate::Plugin>::on_wrap_up(finished)
            }
        }
        $crate::bindings::export_world!($t with_types_in $crate::bindings);
    };
}

impl Default for Route {
    fn default() -> Self {
        Route { queue: None, priority: None, skills: Vec::new(), attributes: Vec::new() }
    }
}

impl Default for ContactDecision {
    /// Route as the platform would have.
    fn default() -> Self {
        ContactDecision::Route(Route::default())
    }
}

impl Manifest {
    /// A manifest for these hooks that needs nothing else.
    pub fn hooks(hooks: &[Hook]) -> Manifest {
        Manifest { hooks: hooks.to_vec(), http_hosts: Vec::new(), secrets: Vec::new(), kv: false }
    }

    /// Declares hosts the plugin calls over HTTP.
    pub fn http_hosts(mut self, hosts: &[&str]) -> Manifest {
        self.http_hosts = hosts.iter().map(|h| h.to_string()).collect();
        self
    }

    /// Declares secrets the plugin reads.
    pub fn secrets(mut self, names: &[&str]) -> Manifest {
        self.secrets = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Declares use of the key-value store.
    pub fn kv(mut self) -> Manifest {
        self.kv = true;
        self
    }
}

impl Contact {
    /// The value of an attribute, if set.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.name == name).map(|a| a.value.as_str())
    }
}

/// An attribute.
pub fn attr(name: impl Into<String>, value: impl Into<String>) -> Attribute {
    Attribute { name: name.into(), value: value.into() }
}

/// Structured logs, shown to the tenant with each invocation.
pub mod log {
    pub use crate::bindings::switchboard::plugin::log::{Level, write};

    /// Logs at info level.
    pub fn info(message: &str) {
        write(Level::Info, message, &[]);
    }

    /// Logs a warning.
    pub fn warn(message: &str) {
        write(Level::Warn, message, &[]);
    }

    /// Logs an error.
    pub fn error(message: &str) {
        write(Level::Error, message, &[]);
    }
}

/// HTTP to the plugin's declared hosts.
pub mod http {
    pub use crate::bindings::switchboard::plugin::http::{HttpError, Request, Response, fetch};

    /// `GET url` with these headers.
    pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        fetch(&Request {
            method: "GET".into(),
            url: url.into(),
            headers: headers.iter().map(|(n, v)| crate::attr(*n, *v)).collect(),
            body: None,
        })
    }

    /// `POST url` with a JSON body.
    pub fn post_json(url: &str, body: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        let mut headers: Vec<_> = headers.iter().map(|(n, v)| crate::attr(*n, *v)).collect();
        headers.push(crate::attr("content-type", "application/json"));
        fetch(&Request { method: "POST".into(), url: url.into(), headers, body: Some(body.into()) })
    }
}
