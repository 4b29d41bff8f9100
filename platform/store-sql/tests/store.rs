//! The Store conformance suite: every test body runs on SQLite and on PostgreSQL.

use std::sync::Arc;

use switchboard_domain::{
    ApiKey, ApiKeyId, ChannelCosts, ChannelEndpoint, EndpointId, EndpointKind, Role, SessionId, Skill, SkillId, Tenant,
    TenantId, TenantStatus, User, UserId, UserStatus,
};
use switchboard_store::{NewTenant, PageRequest, RefreshOutcome, RefreshToken, Session, Store, StoreError};
use switchboard_testkit::on_each_backend;

fn user(tenant: TenantId, email: &str, role: Role) -> User {
    User {
        id: UserId::generate(),
        tenant_id: tenant,
        email: email.parse().expect("email"),
        name: "Ann Agent".into(),
        role,
        status: UserStatus::Active,
        capacity: 100,
        channel_costs: ChannelCosts::default(),
        skills: vec![],
        created_at: 1,
    }
}

async fn tenant_with_owner(store: &Arc<dyn Store>, email: &str) -> (TenantId, User) {
    let tid = TenantId::generate();
    let owner = user(tid, email, Role::Owner);
    store
        .create_tenant(NewTenant {
            tenant: Tenant { id: tid, name: "Acme".into(), status: TenantStatus::Active, created_at: 1 },
            owner: owner.clone(),
            password_hash: "$argon2id$fake".into(),
        })
        .await
        .expect("create tenant");
    (tid, owner)
}

fn skill(name: &str) -> Skill {
    Skill { id: SkillId::generate(), name: name.into(), description: String::new() }
}

#[tokio::test]
async fn signup_creates_tenant_and_owner_found_by_login_email_in_any_case() {
    on_each_backend(|store, kind| async move {
        let (tid, owner) = tenant_with_owner(&store, "Owner@Acme.example").await;
        let creds =
            store.find_login(&"owner@ACME.example".parse().expect("email")).await.expect("login").expect("found");
        assert_eq!((creds.tenant_id, creds.user_id), (tid, owner.id), "{kind:?}");
        assert_eq!(creds.password_hash.as_deref(), Some("$argon2id$fake"));
        assert_eq!(store.tenant(tid).await.expect("tenant").expect("exists").name, "Acme");
        assert_eq!(store.user(tid, owner.id).await.expect("user"), Some(owner));
    })
    .await;
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_and_writes_nothing() {
    on_each_backend(|store, kind| async move {
        tenant_with_owner(&store, "boss@acme.example").await;
        let tid = TenantId::generate();
        let err = store
            .create_tenant(NewTenant {
                tenant: Tenant { id: tid, name: "Copycat".into(), status: TenantStatus::Active, created_at: 1 },
                owner: user(tid, "BOSS@acme.example", Role::Owner),
                password_hash: "x".into(),
            })
            .await
            .expect_err("conflict");
        assert!(matches!(err, StoreError::Conflict { .. }), "{kind:?}: {err:?}");
        assert_eq!(store.tenant(tid).await.expect("read"), None, "{kind:?}: half-written tenant");
    })
    .await;
}

#[tokio::test]
async fn one_tenant_cannot_read_change_or_delete_anothers_documents() {
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        let (b, _) = tenant_with_owner(&store, "b@b.example").await;
        let s = skill("billing");
        store.insert(a, &s).await.expect("insert");
        let id = s.id.to_string();
        assert_eq!(store.get::<Skill>(b, &id).await.expect("get"), None, "{kind:?}");
        assert!(store.list::<Skill>(b, &PageRequest::default()).await.expect("list").items.is_empty());
        let mut changed = s.clone();
        changed.name = "stolen".into();
        assert!(matches!(store.update(b, &changed).await, Err(StoreError::NotFound)));
        assert!(matches!(store.delete::<Skill>(b, &id).await, Err(StoreError::NotFound)));
        assert_eq!(store.get::<Skill>(a, &id).await.expect("get"), Some(s), "{kind:?}: A's skill changed");
    })
    .await;
}

#[tokio::test]
async fn names_are_unique_within_a_tenant_only() {
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        let (b, _) = tenant_with_owner(&store, "b@b.example").await;
        store.insert(a, &skill("spanish")).await.expect("first");
        let err = store.insert(a, &skill("spanish")).await.expect_err("duplicate");
        assert!(matches!(err, StoreError::Conflict { .. }), "{kind:?}: {err:?}");
        store.insert(b, &skill("spanish")).await.expect("other tenant may use the name");
        assert_eq!(store.all::<Skill>(a).await.expect("all").len(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_address_belongs_to_one_tenant_and_is_found_globally() {
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        let (b, _) = tenant_with_owner(&store, "b@b.example").await;
        let number = |name: &str| ChannelEndpoint {
            ivr_flow_id: None,
            id: EndpointId::generate(),
            kind: EndpointKind::VoiceNumber,
            address: "+14155550100".into(),
            name: name.into(),
            queue_id: None,
            business_hours_id: None,
            allowed_origins: vec![],
        };
        let mine = number("hotline");
        store.insert(a, &mine).await.expect("insert");
        let err = store.insert(b, &number("hijack")).await.expect_err("taken");
        assert!(matches!(err, StoreError::Conflict { .. }), "{kind:?}: {err:?}");
        let (owner, doc) = store
            .find_by_global_key(switchboard_store::DocKind::Endpoint, "voice_number:+14155550100")
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!((owner, doc.id), (a, mine.id.to_string()));
        // Releasing the number (delete) lets another tenant take it.
        store.delete::<ChannelEndpoint>(a, &mine.id.to_string()).await.expect("delete");
        store.insert(b, &number("now mine")).await.expect("free again");
    })
    .await;
}

#[tokio::test]
async fn pages_walk_every_item_exactly_once() {
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        for i in 0..7 {
            store.insert(a, &skill(&format!("s{i}"))).await.expect("insert");
        }
        let mut seen = Vec::new();
        let mut page = PageRequest { limit: 3, after: None };
        loop {
            let p = store.list::<Skill>(a, &page).await.expect("list");
            assert!(p.items.len() <= 3);
            seen.extend(p.items.into_iter().map(|s| s.name));
            match p.next_cursor {
                Some(c) => page.after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["s0", "s1", "s2", "s3", "s4", "s5", "s6"], "{kind:?}");
    })
    .await;
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_session() {
    on_each_backend(|store, kind| async move {
        let (a, owner) = tenant_with_owner(&store, "a@a.example").await;
        let session = Session { id: SessionId::generate(), user_id: owner.id, created_at: 10, revoked_at: None };
        let token = |id: &str| RefreshToken {
            id: id.into(),
            session_id: session.id,
            secret_hash: format!("hash-{id}"),
            expires_at: 1_000,
        };
        store.create_session(a, &session, &token("t1")).await.expect("session");
        assert!(matches!(store.use_refresh_token(a, "t1", "hash-t1", 20).await, Ok(RefreshOutcome::Fresh(_))));
        store.add_refresh_token(a, &token("t2")).await.expect("rotate");
        // The thief replays t1: the family dies, so even the legitimate t2 stops working.
        assert_eq!(
            store.use_refresh_token(a, "t1", "hash-t1", 30).await.expect("use"),
            RefreshOutcome::Reused,
            "{kind:?}"
        );
        assert_eq!(store.use_refresh_token(a, "t2", "hash-t2", 31).await.expect("use"), RefreshOutcome::Invalid);
        assert!(store.session(a, session.id).await.expect("read").expect("exists").revoked_at.is_some());
    })
    .await;
}

#[tokio::test]
async fn refresh_tokens_fail_when_forged_expired_or_from_another_tenant() {
    on_each_backend(|store, kind| async move {
        let (a, owner) = tenant_with_owner(&store, "a@a.example").await;
        let (b, _) = tenant_with_owner(&store, "b@b.example").await;
        let session = Session { id: SessionId::generate(), user_id: owner.id, created_at: 10, revoked_at: None };
        let t = RefreshToken { id: "t1".into(), session_id: session.id, secret_hash: "good".into(), expires_at: 100 };
        store.create_session(a, &session, &t).await.expect("session");
        assert_eq!(
            store.use_refresh_token(a, "t1", "forged", 20).await.expect("use"),
            RefreshOutcome::Invalid,
            "{kind:?}"
        );
        assert_eq!(store.use_refresh_token(b, "t1", "good", 20).await.expect("use"), RefreshOutcome::Invalid);
        assert_eq!(store.use_refresh_token(a, "t1", "good", 100).await.expect("use"), RefreshOutcome::Invalid);
        // None of those spent it... but it has expired now, so nothing works anymore.
        assert!(store.session(a, session.id).await.expect("read").expect("exists").revoked_at.is_none());
    })
    .await;
}

#[tokio::test]
async fn concurrent_uses_of_one_refresh_token_yield_one_fresh_session() {
    on_each_backend(|store, kind| async move {
        let (a, owner) = tenant_with_owner(&store, "a@a.example").await;
        let session = Session { id: SessionId::generate(), user_id: owner.id, created_at: 10, revoked_at: None };
        let t = RefreshToken { id: "t1".into(), session_id: session.id, secret_hash: "h".into(), expires_at: 1_000 };
        store.create_session(a, &session, &t).await.expect("session");
        let uses = (0..4).map(|_| {
            let store = store.clone();
            async move { store.use_refresh_token(a, "t1", "h", 20).await.expect("use") }
        });
        let outcomes = futures::future::join_all(uses).await;
        let fresh = outcomes.iter().filter(|o| matches!(o, RefreshOutcome::Fresh(_))).count();
        assert_eq!(fresh, 1, "{kind:?}: {outcomes:?}");
    })
    .await;
}

#[tokio::test]
async fn an_invited_user_becomes_active_when_setting_a_password() {
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        let mut agent = user(a, "agent@a.example", Role::Agent);
        agent.status = UserStatus::Invited;
        store.create_user(a, &agent, Some("invite-hash")).await.expect("invite");
        assert_eq!(store.find_invite(a, "invite-hash").await.expect("find"), Some(agent.id), "{kind:?}");
        store.set_password(a, agent.id, "$argon2id$new").await.expect("set");
        assert_eq!(store.find_invite(a, "invite-hash").await.expect("find"), None, "invite spent");
        let creds = store.find_login(&agent.email).await.expect("login").expect("found");
        assert_eq!(creds.status, UserStatus::Active);
    })
    .await;
}

#[tokio::test]
async fn changing_or_deleting_a_user_updates_the_login_directory() {
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        let mut agent = user(a, "old@a.example", Role::Agent);
        store.create_user(a, &agent, None).await.expect("create");
        agent.email = "new@a.example".parse().expect("email");
        store.update_user(a, &agent).await.expect("update");
        assert!(store.find_login(&"old@a.example".parse().expect("e")).await.expect("l").is_none(), "{kind:?}");
        assert!(store.find_login(&"new@a.example".parse().expect("e")).await.expect("l").is_some());
        let mut clash = agent.clone();
        clash.email = "a@a.example".parse().expect("e");
        assert!(matches!(store.update_user(a, &clash).await, Err(StoreError::Conflict { .. })));
        store.delete_user(a, agent.id).await.expect("delete");
        assert!(store.find_login(&"new@a.example".parse().expect("e")).await.expect("l").is_none());
        assert!(matches!(store.delete_user(a, agent.id).await, Err(StoreError::NotFound)));
    })
    .await;
}

#[tokio::test]
async fn api_keys_are_listed_until_revoked() {
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        let key = ApiKey {
            id: ApiKeyId::generate(),
            name: "crm".into(),
            role: Role::Admin,
            prefix: "sbk_1234".into(),
            created_at: 5,
            last_used_at: None,
        };
        store.create_api_key(a, &key, "secret-hash").await.expect("create");
        assert_eq!(store.list_api_keys(a, &PageRequest::default()).await.expect("list").items, vec![key.clone()]);
        let (_, secret) = store.api_key(a, key.id).await.expect("get").expect("found");
        assert_eq!(secret.secret_hash, "secret-hash");
        store.revoke_api_key(a, key.id, 9).await.expect("revoke");
        assert!(store.list_api_keys(a, &PageRequest::default()).await.expect("list").items.is_empty(), "{kind:?}");
        assert_eq!(store.api_key(a, key.id).await.expect("get").expect("found").1.revoked_at, Some(9));
        assert!(matches!(store.revoke_api_key(a, key.id, 10).await, Err(StoreError::NotFound)));
    })
    .await;
}

#[tokio::test]
async fn a_processed_message_is_recorded_once_per_consumer() {
    on_each_backend(|store, kind| async move {
        assert!(store.record_processed("routing", "m1", 1).await.expect("record"), "{kind:?}");
        assert!(!store.record_processed("routing", "m1", 2).await.expect("record"));
        assert!(store.record_processed("webhooks", "m1", 3).await.expect("record"));
    })
    .await;
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires_or_is_released() {
    on_each_backend(|store, kind| async move {
        let first = store.acquire_lease("shard:1", "a", 60_000).await.expect("acquire");
        assert!(first.is_some(), "{kind:?}");
        // Held by a: b cannot take it, a renews it with the same epoch.
        assert_eq!(store.acquire_lease("shard:1", "b", 60_000).await.expect("b"), None);
        assert_eq!(store.acquire_lease("shard:1", "a", 60_000).await.expect("renew"), first);
        // Released: b takes it, and the epoch moves on (a fencing token).
        store.release_lease("shard:1", "b").await.expect("not b's: no-op");
        assert_eq!(store.acquire_lease("shard:1", "b", 60_000).await.expect("b"), None);
        store.release_lease("shard:1", "a").await.expect("release");
        let second = store.acquire_lease("shard:1", "b", 60_000).await.expect("b").expect("free now");
        assert!(second > first.expect("epoch"));
        // Expired: a lease with a tiny lifetime is free again by the database's clock.
        assert!(store.acquire_lease("node:x", "x", 30).await.expect("x").is_some());
        assert!(store.acquire_lease("node:y", "y", 60_000).await.expect("y").is_some());
        let live: Vec<String> = store.live_leases("node:").await.expect("live").into_iter().map(|l| l.name).collect();
        assert!(live.contains(&"node:y".to_owned()));
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        let live = store.live_leases("node:").await.expect("live");
        assert_eq!(live.iter().map(|l| (l.name.as_str(), l.holder.as_str())).collect::<Vec<_>>(), [("node:y", "y")]);
        assert!(store.acquire_lease("node:x", "z", 60_000).await.expect("z").is_some(), "expired lease taken");
        let shards = store.live_leases("shard:").await.expect("shards");
        assert_eq!(shards.len(), 1);
        assert_eq!((shards[0].holder.as_str(), shards[0].epoch), ("b", second));
    })
    .await;
}

#[tokio::test]
async fn many_contenders_get_a_lease_exactly_once() {
    on_each_backend(|store, kind| async move {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move { store.acquire_lease("shard:race", &format!("n{i}"), 60_000).await }));
        }
        let mut winners = 0;
        for t in tasks {
            if t.await.expect("join").expect("acquire").is_some() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "{kind:?}");
    })
    .await;
}

#[tokio::test]
async fn agent_presence_is_remembered_per_tenant() {
    on_each_backend(|store, kind| async move {
        let (a, owner) = tenant_with_owner(&store, "p@a.example").await;
        let (b, _) = tenant_with_owner(&store, "p@b.example").await;
        store.set_agent_presence(a, owner.id, "\"available\"", 1).await.expect("set");
        store.set_agent_presence(a, owner.id, "{\"away\":\"lunch\"}", 2).await.expect("update");
        assert_eq!(
            store.agent_presences(a).await.expect("a"),
            [(owner.id, "{\"away\":\"lunch\"}".to_owned())],
            "{kind:?}"
        );
        assert!(store.agent_presences(b).await.expect("b").is_empty());
    })
    .await;
}

#[tokio::test]
async fn edges_are_recorded_with_how_long_ago_they_were_heard() {
    on_each_backend(|store, kind| async move {
        let mut eu = switchboard_store::EdgeRecord {
            edge_id: "edge-eu-1".into(),
            region: "eu".into(),
            capacity: 500,
            sip: "203.0.113.5:5060".into(),
            active_calls: 3,
            registered: vec!["desk-ann".into()],
            replica: "r1".into(),
        };
        store.record_edge(&eu).await.expect("hello");
        let us = switchboard_store::EdgeRecord { edge_id: "edge-us-1".into(), region: "us".into(), ..eu.clone() };
        store.record_edge(&us).await.expect("another");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // A heartbeat through another replica replaces what was known.
        eu.active_calls = 4;
        eu.registered = vec![];
        eu.replica = "r2".into();
        store.record_edge(&eu).await.expect("heartbeat");
        let edges = store.edges().await.expect("edges");
        assert_eq!(edges.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>(), [eu, us], "{kind:?}");
        let (fresh, older) = (edges[0].1, edges[1].1);
        assert!((0..300).contains(&fresh), "{kind:?}: heard {fresh} ms ago");
        assert!((300..5_000).contains(&older), "{kind:?}: heard {older} ms ago");
        // Forgetting needs the edge silent for that long: a live one stays.
        assert!(!store.forget_edge("edge-eu-1", 60_000).await.expect("forget"), "{kind:?}: heard just now");
        assert!(store.forget_edge("edge-us-1", 200).await.expect("forget"), "{kind:?}");
        assert!(!store.forget_edge("edge-us-1", 200).await.expect("again"), "{kind:?}: already gone");
        let left: Vec<String> = store.edges().await.expect("edges").into_iter().map(|(e, _)| e.edge_id).collect();
        assert_eq!(left, ["edge-eu-1"], "{kind:?}");
    })
    .await;
}

#[tokio::test]
async fn ping_answers() {
    on_each_backend(|store, _| async move { store.ping().await.expect("ping") }).await;
}

fn contact(queue: switchboard_domain::QueueId, at: i64) -> switchboard_domain::Contact {
    switchboard_domain::Contact {
        id: switchboard_domain::ContactId::generate(),
        channel: switchboard_domain::Channel::Chat,
        queue_id: queue,
        state: switchboard_domain::ContactState::Queued,
        priority: 50,
        skills: vec![],
        customer: Some("visitor-1".into()),
        attributes: Default::default(),
        agent_id: None,
        enqueued_at: at,
        updated_at: at,
        disposition: None,
        notes: None,
        thread_key: None,
    }
}

fn event(kind: &str, at: i64) -> switchboard_domain::ContactEvent {
    switchboard_domain::ContactEvent { seq: 0, at, kind: kind.into(), data: serde_json::json!({"k": kind}) }
}

#[tokio::test]
async fn contact_events_are_appended_in_order_with_the_state() {
    on_each_backend(|store, kind| async move {
        let (a, owner) = tenant_with_owner(&store, "a@a.example").await;
        let q = switchboard_domain::QueueId::generate();
        let mut c = contact(q, 10);
        store.create_contact(a, &c, &event("queued", 10)).await.expect("create");
        c.state = switchboard_domain::ContactState::Connected;
        c.agent_id = Some(owner.id);
        store.update_contact(a, &c, &event("connected", 20)).await.expect("update");
        assert_eq!(store.contact(a, c.id).await.expect("read"), Some(c.clone()), "{kind:?}");
        let events = store.contact_events(a, c.id).await.expect("events");
        let seqs: Vec<(i64, String)> = events.into_iter().map(|e| (e.seq, e.kind)).collect();
        assert_eq!(seqs, [(1, "queued".to_owned()), (2, "connected".to_owned())]);
    })
    .await;
}

#[tokio::test]
async fn a_fenced_transition_is_written_only_while_its_lease_is_held_at_its_epoch() {
    on_each_backend(|store, kind| async move {
        let (a, owner) = tenant_with_owner(&store, "fence@a.example").await;
        let mut c = contact(switchboard_domain::QueueId::generate(), 10);
        store.create_contact(a, &c, &event("queued", 10)).await.expect("create");
        let epoch = store.acquire_lease("shard:f", "n1", 60_000).await.expect("lease").expect("free");
        let fence = switchboard_store::Fence { lease: "shard:f".into(), holder: "n1".into(), epoch };
        c.state = switchboard_domain::ContactState::Offered;
        c.agent_id = Some(owner.id);
        store.update_contact_fenced(a, &c, &event("offered", 20), &fence).await.expect("held: written");
        // The lease changes hands (n1 paused past its lease): n1's next write is refused.
        store.release_lease("shard:f", "n1").await.expect("release");
        store.acquire_lease("shard:f", "n2", 60_000).await.expect("lease").expect("n2 takes it");
        let mut late = c.clone();
        late.state = switchboard_domain::ContactState::Connected;
        let refused = store.update_contact_fenced(a, &late, &event("connected", 30), &fence).await;
        assert!(matches!(refused, Err(StoreError::Fenced(_))), "{kind:?}: {refused:?}");
        assert_eq!(store.contact(a, c.id).await.expect("read"), Some(c.clone()), "nothing written");
        assert_eq!(store.contact_events(a, c.id).await.expect("events").len(), 2);
        // Even the same holder at an older epoch is refused.
        store.release_lease("shard:f", "n2").await.expect("release");
        let newer = store.acquire_lease("shard:f", "n1", 60_000).await.expect("lease").expect("n1 again");
        assert!(newer > epoch);
        let stale = store.update_contact_fenced(a, &late, &event("connected", 40), &fence).await;
        assert!(matches!(stale, Err(StoreError::Fenced(_))), "{stale:?}");
        let current = switchboard_store::Fence { epoch: newer, ..fence };
        store.update_contact_fenced(a, &late, &event("connected", 50), &current).await.expect("current epoch");
    })
    .await;
}

#[tokio::test]
async fn open_contacts_come_back_oldest_first_and_only_for_their_tenant() {
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        let (b, _) = tenant_with_owner(&store, "b@b.example").await;
        let q = switchboard_domain::QueueId::generate();
        let late = contact(q, 30);
        let early = contact(q, 10);
        let mut done = contact(q, 5);
        for c in [&late, &early, &done] {
            store.create_contact(a, c, &event("queued", c.enqueued_at)).await.expect("create");
        }
        done.state = switchboard_domain::ContactState::Done;
        store.update_contact(a, &done, &event("done", 40)).await.expect("update");
        let open: Vec<_> = store.open_contacts(a).await.expect("open").into_iter().map(|c| c.id).collect();
        assert_eq!(open, [early.id, late.id], "{kind:?}");
        assert!(store.open_contacts(b).await.expect("open").is_empty());
        assert_eq!(store.contact(b, early.id).await.expect("read"), None);
        assert!(matches!(store.update_contact(b, &early, &event("x", 1)).await, Err(StoreError::NotFound)));
        let ids = store.tenant_ids().await.expect("tenants");
        assert!(ids.contains(&a) && ids.contains(&b));
    })
    .await;
}

fn chat_message(
    contact: switchboard_domain::ContactId,
    client_id: &str,
    at: i64,
) -> switchboard_domain::ChannelMessage {
    switchboard_domain::ChannelMessage::text(
        format!("m-{client_id}"),
        Some(contact),
        switchboard_domain::Direction::Inbound,
        client_id.into(),
        "visitor".into(),
        String::new(),
        format!("text {client_id}"),
        "received",
        at,
    )
}

#[tokio::test]
async fn messages_are_numbered_per_conversation_and_a_resend_is_stored_once() {
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        let q = switchboard_domain::QueueId::generate();
        let (c1, c2) = (contact(q, 1), contact(q, 2));
        store.create_contact(a, &c1, &event("queued", 1)).await.expect("create");
        store.create_contact(a, &c2, &event("queued", 2)).await.expect("create");
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            let (m, new) = store.insert_message(a, &chat_message(c1.id, id, 10 - i as i64)).await.expect("insert");
            assert!(new);
            assert_eq!(m.seq, i as u64 + 1, "{kind:?}: numbered in arrival order, whatever the clock says");
        }
        let (m, _) = store.insert_message(a, &chat_message(c2.id, "x", 5)).await.expect("insert");
        assert_eq!(m.seq, 1, "each conversation counts on its own");
        let (again, new) = store.insert_message(a, &chat_message(c1.id, "b", 99)).await.expect("resend");
        assert!(!new, "same client id: stored once");
        assert_eq!((again.seq, again.at), (2, 9), "the stored message comes back");
        let after: Vec<u64> =
            store.messages_after(a, c1.id, 1, 10).await.expect("after").iter().map(|m| m.seq).collect();
        assert_eq!(after, [2, 3]);
        assert_eq!(store.messages_after(a, c1.id, 1, 1).await.expect("page").len(), 1);
        assert_eq!(store.messages(a, c1.id).await.expect("all").len(), 3);
        // A message for a conversation that does not exist is refused.
        let ghost = chat_message(switchboard_domain::ContactId::generate(), "g", 1);
        assert!(matches!(store.insert_message(a, &ghost).await, Err(StoreError::NotFound)));
        // Concurrent writers of one conversation get distinct consecutive numbers.
        let writers = (0..16).map(|i| {
            let store = store.clone();
            let c = c2.id;
            tokio::spawn(async move { store.insert_message(a, &chat_message(c, &format!("p{i}"), 50)).await })
        });
        let mut seqs: Vec<u64> = Vec::new();
        for w in writers {
            seqs.push(w.await.expect("join").expect("insert").0.seq);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (2..18).collect::<Vec<_>>(), "{kind:?}");
        // The same message from racing writers (a resend overtaking the original): stored once,
        // one number used.
        let racers = (0..8).map(|_| {
            let store = store.clone();
            let c = c2.id;
            tokio::spawn(async move { store.insert_message(a, &chat_message(c, "same", 60)).await })
        });
        let mut outcomes = Vec::new();
        for r in racers {
            let (m, new) = r.await.expect("join").expect("insert");
            outcomes.push((m.seq, new));
        }
        assert_eq!(outcomes.iter().filter(|(_, new)| *new).count(), 1, "{kind:?}: {outcomes:?}");
        assert!(outcomes.iter().all(|(seq, _)| *seq == 18), "{outcomes:?}");
        let (next, _) = store.insert_message(a, &chat_message(c2.id, "after", 70)).await.expect("insert");
        assert_eq!(next.seq, 19, "no number burnt by the losers");
    })
    .await;
}

#[tokio::test]
async fn usage_counts_once_per_source_and_every_record_lands_in_exactly_one_report() {
    use switchboard_domain::{UsageKind, UsageRecord};
    on_each_backend(|store, kind| async move {
        let (a, _) = tenant_with_owner(&store, "a@a.example").await;
        let (b, _) = tenant_with_owner(&store, "b@b.example").await;
        let rec = |source: &str, k, quantity, at| UsageRecord { source: source.into(), kind: k, quantity, at };
        assert!(store.record_usage(a, &rec("call:1", UsageKind::VoiceMinutes, 3, 100)).await.expect("record"));
        assert!(!store.record_usage(a, &rec("call:1", UsageKind::VoiceMinutes, 3, 100)).await.expect("again"));
        assert!(store.record_usage(b, &rec("call:1", UsageKind::VoiceMinutes, 7, 100)).await.expect("other tenant"));
        // An SMS message with segments records its usage with it, once, however often it is resent.
        let q = switchboard_domain::QueueId::generate();
        let c = contact(q, 1);
        store.create_contact(a, &c, &event("queued", 1)).await.expect("create");
        let mut sms = chat_message(c.id, "SM1", 150);
        sms.segments = 2;
        store.insert_message(a, &sms).await.expect("sms");
        store.insert_message(a, &sms).await.expect("sms resent");
        let totals = store.usage_totals(a, 0, 1_000).await.expect("totals");
        assert_eq!(totals, [(UsageKind::SmsSegments, 2), (UsageKind::VoiceMinutes, 3)], "{kind:?}");
        assert_eq!(store.usage_totals(a, 0, 120).await.expect("window"), [(UsageKind::VoiceMinutes, 3)]);

        // Concurrent sealers (replicas) split the records between them; nothing twice, nothing lost.
        for i in 0..40 {
            store.record_usage(a, &rec(&format!("call:x{i}"), UsageKind::VoiceMinutes, 1, 200)).await.expect("record");
        }
        let sealers = (0..4).map(|i| {
            let store = store.clone();
            tokio::spawn(
                async move { store.seal_usage_report(a, UsageKind::VoiceMinutes, &format!("r{i}"), 300).await },
            )
        });
        let mut sealed = 0;
        for s in futures::future::join_all(sealers).await {
            if let Some(r) = s.expect("join").expect("seal") {
                sealed += r.quantity;
            }
        }
        assert_eq!(sealed, 43, "{kind:?}: 3 + 40 minutes, each in one report");
        assert_eq!(store.seal_usage_report(a, UsageKind::VoiceMinutes, "r9", 300).await.expect("nothing left"), None);
        let unsent = store.unsent_usage_reports(a).await.expect("unsent");
        assert_eq!(unsent.iter().map(|r| r.quantity).sum::<u64>(), 43);
        for r in &unsent {
            store.mark_usage_report_sent(a, &r.id, 400).await.expect("sent");
        }
        assert!(store.unsent_usage_reports(a).await.expect("unsent").is_empty());
        assert!(store.usage_reports(a, 10).await.expect("reports").iter().all(|r| r.sent_at == Some(400)));
        // A report id is used once.
        store.record_usage(a, &rec("call:late", UsageKind::VoiceMinutes, 1, 500)).await.expect("record");
        let reused = store.seal_usage_report(a, UsageKind::VoiceMinutes, &unsent[0].id, 500).await;
        assert!(matches!(reused, Err(StoreError::Conflict { .. })), "{reused:?}");
        // The other tenant's usage was never touched.
        assert_eq!(store.usage_totals(b, 0, 1_000).await.expect("b"), [(UsageKind::VoiceMinutes, 7)]);
        assert!(store.unsent_usage_reports(b).await.expect("b").is_empty());
    })
    .await;
}
