//! PostgreSQL's second wall: row-level security, checked in the catalog and by raw queries.

use sqlx::{Connection, Row};
use switchboard_domain::{Role, Tenant, TenantId, TenantStatus, User, UserId, UserStatus};
use switchboard_store::NewTenant;
use switchboard_testkit::{DbKind, TestDb};

async fn pg() -> Option<TestDb> {
    TestDb::new(DbKind::Postgres).await
}

#[tokio::test]
async fn every_tenant_table_has_forced_row_level_security() {
    let Some(db) = pg().await else { return };
    let mut conn = sqlx::AnyConnection::connect(&db.owner_url).await.expect("connect");
    let rows = sqlx::query(
        "SELECT c.relname::text AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, \
                EXISTS (SELECT 1 FROM information_schema.columns i \
                        WHERE i.table_schema = 'public' AND i.table_name = c.relname AND i.column_name = 'tenant_id') AS scoped \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("catalog");
    // The global directories are read before a tenant is known; they are listed on purpose.
    // `leases` belong to the deployment's replicas, not to any tenant.
    let global = ["identities", "doc_directory", "processed_messages", "leases", "edges", "_sqlx_migrations"];
    let mut checked = 0;
    for row in &rows {
        let name: String = row.get("name");
        let (rls, forced, scoped): (bool, bool, bool) = (row.get("rls"), row.get("forced"), row.get("scoped"));
        if global.contains(&name.as_str()) && name != "tenants" {
            continue;
        }
        assert!(scoped || name == "tenants", "table {name} has no tenant_id and is not a listed global directory");
        assert!(rls && forced, "table {name}: row level security enabled={rls} forced={forced}");
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} tenant tables found");
    db.cleanup().await;
}

#[tokio::test]
async fn the_application_role_neither_owns_tables_nor_bypasses_rls() {
    let Some(db) = pg().await else { return };
    let mut conn = sqlx::AnyConnection::connect(&db.app_url).await.expect("connect as app");
    let row = sqlx::query(
        "SELECT r.rolsuper AS superuser, r.rolbypassrls AS bypass, \
                (SELECT count(*) FROM pg_tables t WHERE t.schemaname = 'public' AND t.tableowner = current_user) AS owned \
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(&mut conn)
    .await
    .expect("role");
    let (superuser, bypass, owned): (bool, bool, i64) = (row.get("superuser"), row.get("bypass"), row.get("owned"));
    assert!(!superuser && !bypass, "application role is superuser={superuser} bypassrls={bypass}");
    assert_eq!(owned, 0, "application role owns tables");
    db.cleanup().await;
}

#[tokio::test]
async fn raw_queries_in_one_tenants_context_cannot_see_or_write_anothers_rows() {
    let Some(db) = pg().await else { return };
    let store = db.store().await;
    let mut ids = Vec::new();
    for email in ["a@a.example", "b@b.example"] {
        let tid = TenantId::generate();
        let owner = User {
            id: UserId::generate(),
            tenant_id: tid,
            email: email.parse().expect("email"),
            name: "Owner".into(),
            role: Role::Owner,
            status: UserStatus::Active,
            capacity: 100,
            channel_costs: Default::default(),
            skills: vec![],
            created_at: 1,
        };
        store
            .create_tenant(NewTenant {
                tenant: Tenant { id: tid, name: email.into(), status: TenantStatus::Active, created_at: 1 },
                owner: owner.clone(),
                password_hash: "x".into(),
            })
            .await
            .expect("tenant");
        ids.push((tid, owner.id));
    }
    let ((a, a_user), (b, _)) = (ids[0], ids[1]);
    let mut conn = sqlx::AnyConnection::connect(&db.app_url).await.expect("connect as app");

    // No tenant context: nothing at all.
    let n: i64 = sqlx::query("SELECT count(*) AS n FROM users").fetch_one(&mut conn).await.expect("count").get("n");
    assert_eq!(n, 0, "rows visible without a tenant context");

    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(b.to_string())
        .execute(&mut *tx)
        .await
        .expect("ctx");
    // Even a query that names tenant A explicitly finds nothing.
    let rows = sqlx::query("SELECT id FROM users WHERE tenant_id = $1 OR id = $2")
        .bind(a.to_string())
        .bind(a_user.to_string())
        .fetch_all(&mut *tx)
        .await
        .expect("select");
    assert!(rows.is_empty(), "tenant B's context sees tenant A's users");
    let tenants: i64 =
        sqlx::query("SELECT count(*) AS n FROM tenants").fetch_one(&mut *tx).await.expect("count").get("n");
    assert_eq!(tenants, 1, "tenant B sees other tenants");
    let updated = sqlx::query("UPDATE users SET name = 'pwned' WHERE tenant_id = $1")
        .bind(a.to_string())
        .execute(&mut *tx)
        .await
        .expect("update runs");
    assert_eq!(updated.rows_affected(), 0);
    // Writing a row into tenant A from B's context violates the policy.
    let insert = sqlx::query(
        "INSERT INTO docs (tenant_id, kind, id, name, global_key, body) VALUES ($1, 'skill', 'x', 'x', NULL, '{}')",
    )
    .bind(a.to_string())
    .execute(&mut *tx)
    .await;
    assert!(insert.is_err(), "cross-tenant insert was accepted");
    drop(tx);
    db.cleanup().await;
}
