//! The `Store` methods, written once for both databases.

use switchboard_domain::{
    ApiKey, ApiKeyId, ChannelCosts, ChannelMessage, Contact, ContactEvent, ContactId, EmailAddress, PluginCall,
    SessionId, SkillLevel, Tenant, TenantId, TenantStatus, UnixMillis, UsageKind, UsageRecord, UsageReport, User,
    UserId, WebhookDelivery, WebhookId,
};
use switchboard_store::{
    ApiKeySecret, ContactFilter, Credentials, DocKind, EdgeRecord, Fence, Lease, NewTenant, Page, PageRequest,
    RefreshOutcome, RefreshToken, Session, Store, StoreError, StoredDoc, TenantEvent,
};

use crate::{SqlStore, backend_err, conflict_or, int, opt_int, opt_text, parse, text};

const EMAIL_TAKEN: &str = "email already registered";

/// The parts of a user kept as one JSON column.
#[derive(serde::Serialize, serde::Deserialize)]
struct Profile {
    capacity: u32,
    channel_costs: ChannelCosts,
    skills: Vec<SkillLevel>,
}

fn profile_json(user: &User) -> Result<String, StoreError> {
    serde_json::to_string(&Profile {
        capacity: user.capacity,
        channel_costs: user.channel_costs.clone(),
        skills: user.skills.clone(),
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Login identities are case-insensitive.
fn identity_key(email: &EmailAddress) -> String {
    email.as_str().to_lowercase()
}

fn status_text(s: TenantStatus) -> &'static str {
    match s {
        TenantStatus::Active => "active",
        TenantStatus::Suspended => "suspended",
    }
}

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, StoreError> {
    let profile: Profile =
        serde_json::from_str(&text(row, "profile")?).map_err(|e| StoreError::Corrupt(format!("profile: {e}")))?;
    Ok(User {
        id: parse(row, "id")?,
        tenant_id: parse(row, "tenant_id")?,
        email: parse(row, "email")?,
        name: text(row, "name")?,
        role: parse(row, "role")?,
        status: parse(row, "status")?,
        capacity: profile.capacity,
        channel_costs: profile.channel_costs,
        skills: profile.skills,
        created_at: int(row, "created_at")?,
    })
}

fn doc_from_row(row: &sqlx::any::AnyRow) -> Result<StoredDoc, StoreError> {
    Ok(StoredDoc {
        id: text(row, "id")?,
        name: text(row, "name")?,
        global_key: opt_text(row, "global_key")?,
        body: text(row, "body")?,
    })
}

fn api_key_from_row(row: &sqlx::any::AnyRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: parse(row, "id")?,
        name: text(row, "name")?,
        role: parse(row, "role")?,
        prefix: text(row, "prefix")?,
        created_at: int(row, "created_at")?,
        last_used_at: opt_int(row, "last_used_at")?,
    })
}

/// Cuts a `limit + 1` fetch into a page and its cursor.
fn paginate<T>(mut items: Vec<T>, page: &PageRequest, id: impl Fn(&T) -> String) -> Page<T> {
    let limit = page.limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(id)
    } else {
        None
    };
    Page { items, next_cursor }
}

fn fetch_limit(page: &PageRequest) -> i64 {
    i64::from(page.limit.clamp(1, 200)) + 1
}

impl SqlStore {
    async fn insert_identity(&self, tx: &mut crate::Tx<'_>, tenant: TenantId, user: &User) -> Result<(), StoreError> {
        sqlx::query(&self.sql("INSERT INTO identities (email, tenant_id, user_id) VALUES ($1, $2, $3)"))
            .bind(identity_key(&user.email))
            .bind(tenant.to_string())
            .bind(user.id.to_string())
            .execute(&mut *tx.tx)
            .await
            .map_err(|e| conflict_or(e, EMAIL_TAKEN))?;
        Ok(())
    }

    async fn insert_user_row(
        &self,
        tx: &mut crate::Tx<'_>,
        tenant: TenantId,
        user: &User,
        password_hash: Option<&str>,
        invite_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.sql(
            "INSERT INTO users (tenant_id, id, email, name, role, status, profile, password_hash, invite_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        ))
        .bind(tenant.to_string())
        .bind(user.id.to_string())
        .bind(user.email.as_str().to_owned())
        .bind(user.name.clone())
        .bind(user.role.as_str())
        .bind(user.status.as_str())
        .bind(profile_json(user)?)
        .bind(password_hash.map(str::to_owned))
        .bind(invite_hash.map(str::to_owned))
        .bind(user.created_at)
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| conflict_or(e, EMAIL_TAKEN))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend_err)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        match self.backend {
            crate::Backend::Sqlite => "sqlite",
            crate::Backend::Postgres => "postgres",
        }
    }

    async fn create_tenant(&self, new: NewTenant) -> Result<(), StoreError> {
        let tid = new.tenant.id;
        let mut tx = self.begin(Some(tid), true).await?;
        sqlx::query(&self.sql("INSERT INTO tenants (id, name, status, created_at) VALUES ($1, $2, $3, $4)"))
            .bind(tid.to_string())
            .bind(new.tenant.name.clone())
            .bind(status_text(new.tenant.status))
            .bind(new.tenant.created_at)
            .execute(&mut *tx.tx)
            .await
            .map_err(|e| conflict_or(e, "tenant exists"))?;
        self.insert_identity(&mut tx, tid, &new.owner).await?;
        self.insert_user_row(&mut tx, tid, &new.owner, Some(&new.password_hash), None).await?;
        tx.commit().await
    }

    async fn tenant(&self, tenant: TenantId) -> Result<Option<Tenant>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(&self.sql("SELECT id, name, status, created_at FROM tenants WHERE id = $1"))
            .bind(tenant.to_string())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await?;
        row.map(|r| {
            Ok(Tenant {
                id: parse(&r, "id")?,
                name: text(&r, "name")?,
                status: match text(&r, "status")?.as_str() {
                    "suspended" => TenantStatus::Suspended,
                    _ => TenantStatus::Active,
                },
                created_at: int(&r, "created_at")?,
            })
        })
        .transpose()
    }

    async fn update_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant.id), true).await?;
        let done = sqlx::query(&self.sql("UPDATE tenants SET name = $2, status = $3 WHERE id = $1"))
            .bind(tenant.id.to_string())
            .bind(tenant.name.clone())
            .bind(status_text(tenant.status))
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    async fn find_login(&self, email: &EmailAddress) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(&self.sql("SELECT tenant_id, user_id FROM identities WHERE email = $1"))
            .bind(identity_key(email))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_err)?;
        let Some(row) = row else { return Ok(None) };
        let tenant_id: TenantId = parse(&row, "tenant_id")?;
        let user_id: UserId = parse(&row, "user_id")?;
        let mut tx = self.begin(Some(tenant_id), false).await?;
        let row = sqlx::query(&self.sql("SELECT password_hash, status FROM users WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant_id.to_string())
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await?;
        row.map(|r| {
            Ok(Credentials {
                tenant_id,
                user_id,
                password_hash: opt_text(&r, "password_hash")?,
                status: parse(&r, "status")?,
            })
        })
        .transpose()
    }

    async fn create_user(&self, tenant: TenantId, user: &User, invite_hash: Option<&str>) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        self.insert_identity(&mut tx, tenant, user).await?;
        self.insert_user_row(&mut tx, tenant, user, None, invite_hash).await?;
        tx.commit().await
    }

    async fn user(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(&self.sql(
            "SELECT tenant_id, id, email, name, role, status, profile, created_at FROM users WHERE tenant_id = $1 AND id = $2",
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, tenant: TenantId, page: &PageRequest) -> Result<Page<User>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(
            "SELECT tenant_id, id, email, name, role, status, profile, created_at FROM users \
             WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        ))
        .bind(tenant.to_string())
        .bind(page.after.clone().unwrap_or_default())
        .bind(fetch_limit(page))
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        let users = rows.iter().map(user_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(users, page, |u| u.id.to_string()))
    }

    async fn update_user(&self, tenant: TenantId, user: &User) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let old = sqlx::query(&self.sql("SELECT email FROM users WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.to_string())
            .bind(user.id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?
            .ok_or(StoreError::NotFound)?;
        let old_email: EmailAddress = parse(&old, "email")?;
        if identity_key(&old_email) != identity_key(&user.email) {
            sqlx::query(&self.sql("UPDATE identities SET email = $1 WHERE email = $2 AND tenant_id = $3"))
                .bind(identity_key(&user.email))
                .bind(identity_key(&old_email))
                .bind(tenant.to_string())
                .execute(&mut *tx.tx)
                .await
                .map_err(|e| conflict_or(e, EMAIL_TAKEN))?;
        }
        sqlx::query(&self.sql(
            "UPDATE users SET email = $3, name = $4, role = $5, status = $6, profile = $7 WHERE tenant_id = $1 AND id = $2",
        ))
        .bind(tenant.to_string())
        .bind(user.id.to_string())
        .bind(user.email.as_str().to_owned())
        .bind(user.name.clone())
        .bind(user.role.as_str())
        .bind(user.status.as_str())
        .bind(profile_json(user)?)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await
    }

    async fn delete_user(&self, tenant: TenantId, id: UserId) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let done = sqlx::query(&self.sql("DELETE FROM users WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(&self.sql("DELETE FROM identities WHERE tenant_id = $1 AND user_id = $2"))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await
    }

    async fn set_password(&self, tenant: TenantId, id: UserId, password_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let done = sqlx::query(&self.sql(
            "UPDATE users SET password_hash = $3, invite_hash = NULL, \
             status = CASE WHEN status = 'invited' THEN 'active' ELSE status END \
             WHERE tenant_id = $1 AND id = $2",
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(password_hash.to_owned())
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    async fn find_invite(&self, tenant: TenantId, invite_hash: &str) -> Result<Option<UserId>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(
            &self.sql("SELECT id FROM users WHERE tenant_id = $1 AND invite_hash = $2 AND status = 'invited'"),
        )
        .bind(tenant.to_string())
        .bind(invite_hash.to_owned())
        .fetch_optional(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        row.map(|r| parse(&r, "id")).transpose()
    }

    async fn create_session(
        &self,
        tenant: TenantId,
        session: &Session,
        first: &RefreshToken,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        sqlx::query(&self.sql(
            "INSERT INTO sessions (tenant_id, id, user_id, created_at, revoked_at) VALUES ($1, $2, $3, $4, NULL)",
        ))
        .bind(tenant.to_string())
        .bind(session.id.to_string())
        .bind(session.user_id.to_string())
        .bind(session.created_at)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        self.insert_refresh(&mut tx, tenant, first).await?;
        tx.commit().await
    }

    async fn session(&self, tenant: TenantId, id: SessionId) -> Result<Option<Session>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(
            &self.sql("SELECT id, user_id, created_at, revoked_at FROM sessions WHERE tenant_id = $1 AND id = $2"),
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn use_refresh_token(
        &self,
        tenant: TenantId,
        token_id: &str,
        secret_hash: &str,
        now: UnixMillis,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        // The conditional update is the race arbiter: of two concurrent uses only one matches.
        let spent = sqlx::query(&self.sql(
            "UPDATE refresh_tokens SET used_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND secret_hash = $3 AND used_at IS NULL AND expires_at > $4",
        ))
        .bind(tenant.to_string())
        .bind(token_id.to_owned())
        .bind(secret_hash.to_owned())
        .bind(now)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        let token = sqlx::query(&self.sql(
            "SELECT session_id, used_at FROM refresh_tokens WHERE tenant_id = $1 AND id = $2 AND secret_hash = $3",
        ))
        .bind(tenant.to_string())
        .bind(token_id.to_owned())
        .bind(secret_hash.to_owned())
        .fetch_optional(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        let Some(token) = token else {
            tx.commit().await?;
            return Ok(RefreshOutcome::Invalid);
        };
        let session_id = text(&token, "session_id")?;
        let outcome = if spent.rows_affected() == 1 {
            let row = sqlx::query(
                &self.sql("SELECT id, user_id, created_at, revoked_at FROM sessions WHERE tenant_id = $1 AND id = $2"),
            )
            .bind(tenant.to_string())
            .bind(session_id)
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
            match row.as_ref().map(session_from_row).transpose()? {
                Some(s) if s.revoked_at.is_none() => RefreshOutcome::Fresh(s),
                _ => RefreshOutcome::Invalid,
            }
        } else if opt_int(&token, "used_at")?.is_some() {
            // A spent token came back: whoever holds the family is not to be trusted.
            sqlx::query(
                &self
                    .sql("UPDATE sessions SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL"),
            )
            .bind(tenant.to_string())
            .bind(session_id)
            .bind(now)
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
            RefreshOutcome::Reused
        } else {
            RefreshOutcome::Invalid
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn add_refresh_token(&self, tenant: TenantId, token: &RefreshToken) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        self.insert_refresh(&mut tx, tenant, token).await?;
        tx.commit().await
    }

    async fn revoke_session(&self, tenant: TenantId, id: SessionId, now: UnixMillis) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        sqlx::query(
            &self.sql("UPDATE sessions SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL"),
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(now)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await
    }

    async fn create_api_key(&self, tenant: TenantId, key: &ApiKey, secret_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        sqlx::query(&self.sql(
            "INSERT INTO api_keys (tenant_id, id, name, role, prefix, secret_hash, created_at, last_used_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)",
        ))
        .bind(tenant.to_string())
        .bind(key.id.to_string())
        .bind(key.name.clone())
        .bind(key.role.as_str())
        .bind(key.prefix.clone())
        .bind(secret_hash.to_owned())
        .bind(key.created_at)
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| conflict_or(e, "api key exists"))?;
        tx.commit().await
    }

    async fn list_api_keys(&self, tenant: TenantId, page: &PageRequest) -> Result<Page<ApiKey>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(
            "SELECT id, name, role, prefix, created_at, last_used_at FROM api_keys \
             WHERE tenant_id = $1 AND revoked_at IS NULL AND id > $2 ORDER BY id LIMIT $3",
        ))
        .bind(tenant.to_string())
        .bind(page.after.clone().unwrap_or_default())
        .bind(fetch_limit(page))
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        let keys = rows.iter().map(api_key_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(keys, page, |k| k.id.to_string()))
    }

    async fn api_key(&self, tenant: TenantId, id: ApiKeyId) -> Result<Option<(ApiKey, ApiKeySecret)>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(&self.sql(
            "SELECT id, name, role, prefix, created_at, last_used_at, secret_hash, revoked_at FROM api_keys \
             WHERE tenant_id = $1 AND id = $2",
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        row.map(|r| {
            Ok((
                api_key_from_row(&r)?,
                ApiKeySecret { secret_hash: text(&r, "secret_hash")?, revoked_at: opt_int(&r, "revoked_at")? },
            ))
        })
        .transpose()
    }

    async fn revoke_api_key(&self, tenant: TenantId, id: ApiKeyId, now: UnixMillis) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let done = sqlx::query(
            &self.sql("UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL"),
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(now)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    async fn insert_doc(&self, tenant: TenantId, kind: DocKind, doc: &StoredDoc) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        if let Some(key) = &doc.global_key {
            self.claim_key(&mut tx, tenant, kind, key, &doc.id).await?;
        }
        sqlx::query(
            &self.sql("INSERT INTO docs (tenant_id, kind, id, name, global_key, body) VALUES ($1, $2, $3, $4, $5, $6)"),
        )
        .bind(tenant.to_string())
        .bind(kind.as_str())
        .bind(doc.id.clone())
        .bind(doc.name.clone())
        .bind(doc.global_key.clone())
        .bind(doc.body.clone())
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| conflict_or(e, "name already used"))?;
        tx.commit().await
    }

    async fn update_doc(&self, tenant: TenantId, kind: DocKind, doc: &StoredDoc) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let old = sqlx::query(&self.sql("SELECT global_key FROM docs WHERE tenant_id = $1 AND kind = $2 AND id = $3"))
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(doc.id.clone())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?
            .ok_or(StoreError::NotFound)?;
        let old_key = opt_text(&old, "global_key")?;
        if old_key != doc.global_key {
            if let Some(old_key) = old_key {
                self.release_key(&mut tx, tenant, kind, &old_key).await?;
            }
            if let Some(key) = &doc.global_key {
                self.claim_key(&mut tx, tenant, kind, key, &doc.id).await?;
            }
        }
        sqlx::query(&self.sql(
            "UPDATE docs SET name = $4, global_key = $5, body = $6 WHERE tenant_id = $1 AND kind = $2 AND id = $3",
        ))
        .bind(tenant.to_string())
        .bind(kind.as_str())
        .bind(doc.id.clone())
        .bind(doc.name.clone())
        .bind(doc.global_key.clone())
        .bind(doc.body.clone())
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| conflict_or(e, "name already used"))?;
        tx.commit().await
    }

    async fn doc(&self, tenant: TenantId, kind: DocKind, id: &str) -> Result<Option<StoredDoc>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(
            &self.sql("SELECT id, name, global_key, body FROM docs WHERE tenant_id = $1 AND kind = $2 AND id = $3"),
        )
        .bind(tenant.to_string())
        .bind(kind.as_str())
        .bind(id.to_owned())
        .fetch_optional(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        row.as_ref().map(doc_from_row).transpose()
    }

    async fn list_docs(
        &self,
        tenant: TenantId,
        kind: DocKind,
        page: &PageRequest,
    ) -> Result<Page<StoredDoc>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(
            "SELECT id, name, global_key, body FROM docs WHERE tenant_id = $1 AND kind = $2 AND id > $3 ORDER BY id LIMIT $4",
        ))
        .bind(tenant.to_string())
        .bind(kind.as_str())
        .bind(page.after.clone().unwrap_or_default())
        .bind(fetch_limit(page))
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        let docs = rows.iter().map(doc_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(docs, page, |d| d.id.clone()))
    }

    async fn delete_doc(&self, tenant: TenantId, kind: DocKind, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let done = sqlx::query(&self.sql("DELETE FROM docs WHERE tenant_id = $1 AND kind = $2 AND id = $3"))
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(id.to_owned())
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(&self.sql("DELETE FROM doc_directory WHERE tenant_id = $1 AND kind = $2 AND doc_id = $3"))
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(id.to_owned())
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await
    }

    async fn find_by_global_key(&self, kind: DocKind, key: &str) -> Result<Option<(TenantId, StoredDoc)>, StoreError> {
        let row =
            sqlx::query(&self.sql("SELECT tenant_id, doc_id FROM doc_directory WHERE kind = $1 AND global_key = $2"))
                .bind(kind.as_str())
                .bind(key.to_owned())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend_err)?;
        let Some(row) = row else { return Ok(None) };
        let tenant: TenantId = parse(&row, "tenant_id")?;
        let doc = self.doc(tenant, kind, &text(&row, "doc_id")?).await?;
        Ok(doc.map(|d| (tenant, d)))
    }

    async fn create_contact(
        &self,
        tenant: TenantId,
        contact: &Contact,
        first: &ContactEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        sqlx::query(&self.sql(
            "INSERT INTO contacts (tenant_id, id, channel, queue_id, state, agent_id, enqueued_at, updated_at, body, thread_key, customer) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        ))
        .bind(tenant.to_string())
        .bind(contact.id.to_string())
        .bind(contact.channel.as_str())
        .bind(contact.queue_id.to_string())
        .bind(contact.state.as_str())
        .bind(contact.agent_id.map(|a| a.to_string()))
        .bind(contact.enqueued_at)
        .bind(contact.updated_at)
        .bind(contact_json(contact)?)
        .bind(contact.thread_key.clone())
        .bind(contact.customer.clone())
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| conflict_or(e, "contact exists"))?;
        self.append_event(&mut tx, tenant, contact.id, first).await?;
        tx.commit().await
    }

    async fn update_contact(
        &self,
        tenant: TenantId,
        contact: &Contact,
        event: &ContactEvent,
    ) -> Result<(), StoreError> {
        self.write_contact(tenant, contact, event, None).await
    }

    async fn contact(&self, tenant: TenantId, id: ContactId) -> Result<Option<Contact>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(&self.sql("SELECT body FROM contacts WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    async fn contact_events(&self, tenant: TenantId, id: ContactId) -> Result<Vec<ContactEvent>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(
            "SELECT seq, at, kind, data FROM contact_events WHERE tenant_id = $1 AND contact_id = $2 ORDER BY seq",
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(ContactEvent {
                    seq: int(r, "seq")?,
                    at: int(r, "at")?,
                    kind: text(r, "kind")?,
                    data: serde_json::from_str(&text(r, "data")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }

    async fn list_contacts(&self, tenant: TenantId, page: &PageRequest) -> Result<Page<Contact>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows =
            sqlx::query(&self.sql("SELECT body FROM contacts WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
                .bind(tenant.to_string())
                .bind(page.after.clone().unwrap_or_default())
                .bind(fetch_limit(page))
                .fetch_all(&mut *tx.tx)
                .await
                .map_err(backend_err)?;
        tx.commit().await?;
        let contacts = rows.iter().map(contact_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(contacts, page, |c| c.id.to_string()))
    }

    async fn search_contacts(
        &self,
        tenant: TenantId,
        filter: &ContactFilter,
        page: &PageRequest,
    ) -> Result<Page<Contact>, StoreError> {
        enum Arg {
            Text(String),
            Int(i64),
        }
        let mut sql = String::from("SELECT body FROM contacts WHERE tenant_id = $1");
        let mut args = vec![Arg::Text(tenant.to_string())];
        let clause = |sql: &mut String, args: &mut Vec<Arg>, expr: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&format!(" AND {expr} ${}", args.len()));
        };
        for (column, value) in [
            ("state =", &filter.state),
            ("channel =", &filter.channel),
            ("queue_id =", &filter.queue_id),
            ("agent_id =", &filter.agent_id),
        ] {
            if let Some(v) = value {
                clause(&mut sql, &mut args, column, Arg::Text(v.clone()));
            }
        }
        if let Some(c) = &filter.customer {
            // LIKE with its wildcards escaped: the text is matched literally, anywhere.
            let escaped = c.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            args.push(Arg::Text(format!("%{escaped}%")));
            sql.push_str(&format!(" AND LOWER(customer) LIKE ${} ESCAPE '\\'", args.len()));
        }
        if let Some(t) = filter.since {
            clause(&mut sql, &mut args, "enqueued_at >=", Arg::Int(t));
        }
        if let Some(t) = filter.until {
            clause(&mut sql, &mut args, "enqueued_at <", Arg::Int(t));
        }
        if let Some(after) = &page.after {
            clause(&mut sql, &mut args, "id <", Arg::Text(after.clone()));
        }
        args.push(Arg::Int(fetch_limit(page)));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", args.len()));
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql);
        for a in args {
            query = match a {
                Arg::Text(t) => query.bind(t),
                Arg::Int(i) => query.bind(i),
            };
        }
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = query.fetch_all(&mut *tx.tx).await.map_err(backend_err)?;
        tx.commit().await?;
        let contacts = rows.iter().map(contact_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(contacts, page, |c| c.id.to_string()))
    }

    async fn events_between(
        &self,
        tenant: TenantId,
        since: UnixMillis,
        until: UnixMillis,
        kinds: &[&str],
    ) -> Result<Vec<TenantEvent>, StoreError> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        // Only the asked kinds leave the database: a busy day has many more events than these.
        let wanted: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 4)).collect();
        let text_sql = format!(
            "SELECT e.contact_id, e.seq, e.at, e.kind, e.data, c.queue_id, c.channel \
             FROM contact_events e JOIN contacts c ON c.tenant_id = e.tenant_id AND c.id = e.contact_id \
             WHERE e.tenant_id = $1 AND e.at >= $2 AND e.at < $3 AND e.kind IN ({}) ORDER BY e.at, e.contact_id, e.seq",
            wanted.join(", ")
        );
        let sql = self.sql(&text_sql);
        let mut query = sqlx::query(&sql).bind(tenant.to_string()).bind(since).bind(until);
        for k in kinds {
            query = query.bind(k.to_string());
        }
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = query.fetch_all(&mut *tx.tx).await.map_err(backend_err)?;
        tx.commit().await?;
        let mut out = Vec::new();
        for r in &rows {
            let kind = text(r, "kind")?;
            out.push(TenantEvent {
                contact_id: parse(r, "contact_id")?,
                queue_id: text(r, "queue_id")?,
                channel: text(r, "channel")?,
                event: ContactEvent {
                    seq: int(r, "seq")?,
                    at: int(r, "at")?,
                    kind,
                    data: serde_json::from_str(&text(r, "data")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                },
            });
        }
        Ok(out)
    }

    async fn open_contacts(&self, tenant: TenantId) -> Result<Vec<Contact>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(
            "SELECT body FROM contacts WHERE tenant_id = $1 AND state IN ('queued', 'offered', 'connected', 'wrap_up') \
             ORDER BY enqueued_at, id",
        ))
        .bind(tenant.to_string())
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter().map(contact_from_row).collect()
    }

    async fn open_contact_by_thread(&self, tenant: TenantId, thread_key: &str) -> Result<Option<Contact>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(&self.sql(
            "SELECT body FROM contacts WHERE tenant_id = $1 AND thread_key = $2 \
             AND state IN ('queued', 'offered', 'connected', 'wrap_up') ORDER BY enqueued_at DESC LIMIT 1",
        ))
        .bind(tenant.to_string())
        .bind(thread_key.to_owned())
        .fetch_optional(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    async fn contacts_of_customer(
        &self,
        tenant: TenantId,
        customer: &str,
        limit: u32,
    ) -> Result<Vec<Contact>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(
            "SELECT body FROM contacts WHERE tenant_id = $1 AND customer = $2 ORDER BY enqueued_at DESC, id DESC LIMIT $3",
        ))
        .bind(tenant.to_string())
        .bind(customer.to_owned())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter().map(contact_from_row).collect()
    }

    async fn insert_message(&self, tenant: TenantId, m: &ChannelMessage) -> Result<(ChannelMessage, bool), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        if let Some(row) =
            sqlx::query(&self.sql("SELECT body, seq FROM messages WHERE tenant_id = $1 AND provider_id = $2"))
                .bind(tenant.to_string())
                .bind(m.provider_id.clone())
                .fetch_optional(&mut *tx.tx)
                .await
                .map_err(backend_err)?
        {
            tx.commit().await?;
            return Ok((message_row(&row)?, false));
        }
        let mut stored = m.clone();
        stored.seq = 0;
        if let Some(contact) = m.contact_id {
            // Taking the next number updates (and on PostgreSQL locks) the conversation's row, so
            // concurrent writers of one conversation get consecutive numbers.
            let row =
                sqlx::query(&self.sql(
                    "UPDATE contacts SET msg_seq = msg_seq + 1 WHERE tenant_id = $1 AND id = $2 RETURNING msg_seq",
                ))
                .bind(tenant.to_string())
                .bind(contact.to_string())
                // All rows, so SQLite finishes the statement before the insert and commit.
                .fetch_all(&mut *tx.tx)
                .await
                .map_err(backend_err)?
                .pop()
                .ok_or(StoreError::NotFound)?;
            stored.seq = u64::try_from(int(&row, "msg_seq")?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        let body = serde_json::to_string(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let done = sqlx::query(&self.sql(
            "INSERT INTO messages (tenant_id, id, contact_id, provider_id, at, body, seq) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, provider_id) DO NOTHING",
        ))
        .bind(tenant.to_string())
        .bind(stored.id.clone())
        .bind(stored.contact_id.map(|c| c.to_string()))
        .bind(stored.provider_id.clone())
        .bind(stored.at)
        .bind(body)
        .bind(stored.seq as i64)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            // A concurrent writer stored the same message first (a resend racing the original on
            // PostgreSQL): give the number back by rolling back, and answer with theirs.
            drop(tx);
            let existing = self.message_by_provider_id(tenant, &m.provider_id).await?.ok_or(StoreError::NotFound)?;
            return Ok((existing, false));
        }
        // Billable segments count with the message that carries them, in the same transaction:
        // usage always reconciles with the messages stored.
        if stored.segments > 0 && stored.direction != switchboard_domain::Direction::Internal {
            let record = UsageRecord {
                source: format!("sms:{}", stored.id),
                kind: UsageKind::SmsSegments,
                quantity: u64::from(stored.segments),
                at: stored.at,
            };
            insert_usage(self, &mut tx, tenant, &record).await?;
        }
        tx.commit().await?;
        Ok((stored, true))
    }

    async fn message_by_provider_id(
        &self,
        tenant: TenantId,
        provider_id: &str,
    ) -> Result<Option<ChannelMessage>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(&self.sql("SELECT body, seq FROM messages WHERE tenant_id = $1 AND provider_id = $2"))
            .bind(tenant.to_string())
            .bind(provider_id.to_owned())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await?;
        row.as_ref().map(message_row).transpose()
    }

    async fn set_message_status(&self, tenant: TenantId, provider_id: &str, status: &str) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let row = sqlx::query(&self.sql("SELECT body, seq FROM messages WHERE tenant_id = $1 AND provider_id = $2"))
            .bind(tenant.to_string())
            .bind(provider_id.to_owned())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?
            .ok_or(StoreError::NotFound)?;
        let mut m = message_row(&row)?;
        m.status = status.to_owned();
        let body = serde_json::to_string(&m).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(&self.sql("UPDATE messages SET body = $3 WHERE tenant_id = $1 AND provider_id = $2"))
            .bind(tenant.to_string())
            .bind(provider_id.to_owned())
            .bind(body)
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await
    }

    async fn messages_after(
        &self,
        tenant: TenantId,
        contact: ContactId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChannelMessage>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(
            "SELECT body, seq FROM messages WHERE tenant_id = $1 AND contact_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        ))
        .bind(tenant.to_string())
        .bind(contact.to_string())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter().map(message_row).collect()
    }

    async fn set_opt_out(
        &self,
        tenant: TenantId,
        ours: &str,
        theirs: &str,
        opted_out: bool,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let sql = if opted_out {
            "INSERT INTO sms_opt_outs (tenant_id, our_number, their_number, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM sms_opt_outs WHERE tenant_id = $1 AND our_number = $2 AND their_number = $3 AND $4 >= 0"
        };
        sqlx::query(&self.sql(sql))
            .bind(tenant.to_string())
            .bind(ours.to_owned())
            .bind(theirs.to_owned())
            .bind(now)
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await
    }

    async fn is_opted_out(&self, tenant: TenantId, ours: &str, theirs: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(
            &self.sql("SELECT at FROM sms_opt_outs WHERE tenant_id = $1 AND our_number = $2 AND their_number = $3"),
        )
        .bind(tenant.to_string())
        .bind(ours.to_owned())
        .bind(theirs.to_owned())
        .fetch_optional(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        Ok(row.is_some())
    }

    async fn tenant_ids(&self) -> Result<Vec<TenantId>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT tenant_id FROM identities ORDER BY tenant_id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend_err)?;
        rows.iter().map(|r| parse(r, "tenant_id")).collect()
    }

    async fn create_delivery(&self, tenant: TenantId, d: &WebhookDelivery) -> Result<bool, StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let done = sqlx::query(&self.sql(
            "INSERT INTO webhook_deliveries (tenant_id, id, webhook_id, event_id, status, next_attempt_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        ))
        .bind(tenant.to_string())
        .bind(d.id.clone())
        .bind(d.webhook_id.to_string())
        .bind(d.event_id.clone())
        .bind(d.status.as_str())
        .bind(d.next_attempt_at)
        .bind(delivery_json(d)?)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn update_delivery(&self, tenant: TenantId, d: &WebhookDelivery) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let done = sqlx::query(&self.sql(
            "UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4, body = $5 WHERE tenant_id = $1 AND id = $2",
        ))
        .bind(tenant.to_string())
        .bind(d.id.clone())
        .bind(d.status.as_str())
        .bind(d.next_attempt_at)
        .bind(delivery_json(d)?)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    async fn list_deliveries(
        &self,
        tenant: TenantId,
        webhook: WebhookId,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        // Newest first: ids are time-ordered, the cursor walks down.
        let rows = sqlx::query(&self.sql(
            "SELECT body FROM webhook_deliveries WHERE tenant_id = $1 AND webhook_id = $2 AND ($3 = '' OR id < $3) \
             ORDER BY id DESC LIMIT $4",
        ))
        .bind(tenant.to_string())
        .bind(webhook.to_string())
        .bind(page.after.clone().unwrap_or_default())
        .bind(fetch_limit(page))
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        let items = rows.iter().map(delivery_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, page, |d| d.id.clone()))
    }

    async fn due_deliveries(
        &self,
        tenant: TenantId,
        now: UnixMillis,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(
            "SELECT body FROM webhook_deliveries WHERE tenant_id = $1 AND status = 'pending' AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at LIMIT $3",
        ))
        .bind(tenant.to_string())
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn record_processed(&self, consumer: &str, message_id: &str, now: UnixMillis) -> Result<bool, StoreError> {
        let mut tx = self.begin(None, true).await?;
        let done = sqlx::query(&self.sql(
            "INSERT INTO processed_messages (consumer, message_id, processed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        ))
        .bind(consumer.to_owned())
        .bind(message_id.to_owned())
        .bind(now)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_usage(&self, tenant: TenantId, record: &UsageRecord) -> Result<bool, StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let new = insert_usage(self, &mut tx, tenant, record).await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn usage_totals(
        &self,
        tenant: TenantId,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<(UsageKind, u64)>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(
            "SELECT kind, CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS total FROM usage_records \
             WHERE tenant_id = $1 AND at >= $2 AND at < $3 GROUP BY kind ORDER BY kind",
        ))
        .bind(tenant.to_string())
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let kind = text(r, "kind")?;
                let kind = UsageKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("usage kind {kind}")))?;
                Ok((kind, u64::try_from(int(r, "total")?).unwrap_or(0)))
            })
            .collect()
    }

    async fn seal_usage_report(
        &self,
        tenant: TenantId,
        kind: UsageKind,
        id: &str,
        now: UnixMillis,
    ) -> Result<Option<UsageReport>, StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        // Claim first, then sum what was claimed: a concurrent sealer (another replica) claims
        // disjoint records, so every record lands in exactly one report.
        let claimed =
            sqlx::query(&self.sql(
                "UPDATE usage_records SET report_id = $3 WHERE tenant_id = $1 AND kind = $2 AND report_id IS NULL",
            ))
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(id.to_owned())
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        if claimed.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(None);
        }
        let row = sqlx::query(&self.sql(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS total FROM usage_records \
             WHERE tenant_id = $1 AND report_id = $2",
        ))
        .bind(tenant.to_string())
        .bind(id.to_owned())
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        let quantity = u64::try_from(int(&row, "total")?).unwrap_or(0);
        sqlx::query(&self.sql(
            "INSERT INTO usage_reports (tenant_id, id, kind, quantity, sealed_at, sent_at) VALUES ($1, $2, $3, $4, $5, NULL)",
        ))
        .bind(tenant.to_string())
        .bind(id.to_owned())
        .bind(kind.as_str())
        .bind(i64::try_from(quantity).unwrap_or(i64::MAX))
        .bind(now)
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| conflict_or(e, "usage report id taken"))?;
        tx.commit().await?;
        Ok(Some(UsageReport { id: id.to_owned(), kind, quantity, sealed_at: now, sent_at: None }))
    }

    async fn unsent_usage_reports(&self, tenant: TenantId) -> Result<Vec<UsageReport>, StoreError> {
        self.reports(tenant, "WHERE tenant_id = $1 AND sent_at IS NULL ORDER BY sealed_at, id LIMIT 1000").await
    }

    async fn mark_usage_report_sent(&self, tenant: TenantId, id: &str, now: UnixMillis) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        sqlx::query(
            &self.sql("UPDATE usage_reports SET sent_at = $3 WHERE tenant_id = $1 AND id = $2 AND sent_at IS NULL"),
        )
        .bind(tenant.to_string())
        .bind(id.to_owned())
        .bind(now)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await
    }

    async fn usage_reports(&self, tenant: TenantId, limit: u32) -> Result<Vec<UsageReport>, StoreError> {
        let limit = limit.clamp(1, 500);
        self.reports(tenant, &format!("WHERE tenant_id = $1 ORDER BY sealed_at DESC, id DESC LIMIT {limit}")).await
    }

    async fn plugin_kv_get(&self, tenant: TenantId, key: &str) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let row = sqlx::query(&self.sql("SELECT value FROM plugin_kv WHERE tenant_id = $1 AND key = $2"))
            .bind(tenant.to_string())
            .bind(key)
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await?;
        row.map(|r| text(&r, "value")).transpose()
    }

    async fn plugin_kv_set(
        &self,
        tenant: TenantId,
        key: &str,
        value: &str,
        max_keys: u32,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        let exists = sqlx::query(&self.sql("SELECT 1 AS one FROM plugin_kv WHERE tenant_id = $1 AND key = $2"))
            .bind(tenant.to_string())
            .bind(key)
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?
            .is_some();
        if !exists {
            let row = sqlx::query(&self.sql("SELECT COUNT(*) AS n FROM plugin_kv WHERE tenant_id = $1"))
                .bind(tenant.to_string())
                .fetch_one(&mut *tx.tx)
                .await
                .map_err(backend_err)?;
            if int(&row, "n")? >= i64::from(max_keys) {
                return Err(StoreError::Conflict { what: format!("the tenant's plugin store holds {max_keys} keys") });
            }
        }
        sqlx::query(&self.sql(
            "INSERT INTO plugin_kv (tenant_id, key, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        ))
        .bind(tenant.to_string())
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await
    }

    async fn plugin_kv_delete(&self, tenant: TenantId, key: &str) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        sqlx::query(&self.sql("DELETE FROM plugin_kv WHERE tenant_id = $1 AND key = $2"))
            .bind(tenant.to_string())
            .bind(key)
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await
    }

    async fn record_plugin_call(
        &self,
        tenant: TenantId,
        call: &PluginCall,
        forget_before: UnixMillis,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        sqlx::query(&self.sql(
            "INSERT INTO plugin_calls (tenant_id, id, plugin, version, hook, contact_id, at, duration_us, outcome, \
             detail, logs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        ))
        .bind(tenant.to_string())
        .bind(&call.id)
        .bind(&call.plugin)
        .bind(i64::from(call.version))
        .bind(&call.hook)
        .bind(call.contact_id.as_deref())
        .bind(call.at)
        .bind(i64::try_from(call.duration_us).unwrap_or(i64::MAX))
        .bind(&call.outcome)
        .bind(&call.detail)
        .bind(call.logs.to_string())
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        sqlx::query(&self.sql("DELETE FROM plugin_calls WHERE tenant_id = $1 AND at < $2"))
            .bind(tenant.to_string())
            .bind(forget_before)
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await
    }

    async fn plugin_calls(
        &self,
        tenant: TenantId,
        plugin: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PluginCall>, StoreError> {
        let limit = limit.clamp(1, 500);
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT id, plugin, version, hook, contact_id, at, duration_us, outcome, detail, logs FROM plugin_calls \
             WHERE tenant_id = $1 AND plugin = $2 AND id < $3 ORDER BY id DESC LIMIT {limit}"
        )))
        .bind(tenant.to_string())
        .bind(plugin)
        .bind(before.unwrap_or("~"))
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let logs = text(r, "logs")?;
                Ok(PluginCall {
                    id: text(r, "id")?,
                    plugin: text(r, "plugin")?,
                    version: u32::try_from(int(r, "version")?).unwrap_or(0),
                    hook: text(r, "hook")?,
                    contact_id: opt_text(r, "contact_id")?,
                    at: int(r, "at")?,
                    duration_us: u64::try_from(int(r, "duration_us")?).unwrap_or(0),
                    outcome: text(r, "outcome")?,
                    detail: text(r, "detail")?,
                    logs: serde_json::from_str(&logs)
                        .map_err(|e| StoreError::Corrupt(format!("plugin call logs: {e}")))?,
                })
            })
            .collect()
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<Option<u64>, StoreError> {
        let now = self.db_now_ms();
        let sql = format!(
            "INSERT INTO leases (name, holder, epoch, expires_at) VALUES ($1, $2, 1, {now} + $3) \
             ON CONFLICT (name) DO UPDATE SET \
               epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > {now} \
                            THEN leases.epoch ELSE leases.epoch + 1 END, \
               holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= {now} \
             RETURNING epoch"
        );
        let mut tx = self.begin(None, true).await?;
        let row = sqlx::query(&self.sql(&sql))
            .bind(name.to_owned())
            .bind(holder.to_owned())
            .bind(ttl_ms)
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await?;
        row.map(|r| int(&r, "epoch").map(|e| u64::try_from(e).unwrap_or(0))).transpose()
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut tx = self.begin(None, true).await?;
        sqlx::query(&self.sql("UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2"))
            .bind(name.to_owned())
            .bind(holder.to_owned())
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await
    }

    async fn update_contact_fenced(
        &self,
        tenant: TenantId,
        contact: &Contact,
        event: &ContactEvent,
        fence: &Fence,
    ) -> Result<(), StoreError> {
        self.write_contact(tenant, contact, event, Some(fence)).await
    }

    async fn live_leases(&self, prefix: &str) -> Result<Vec<Lease>, StoreError> {
        let sql = format!(
            "SELECT name, holder, epoch, expires_at FROM leases WHERE expires_at > {} AND substr(name, 1, CAST($1 AS INTEGER)) = $2 ORDER BY name",
            self.db_now_ms()
        );
        let mut tx = self.begin(None, false).await?;
        let rows = sqlx::query(&self.sql(&sql))
            .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
            .bind(prefix.to_owned())
            .fetch_all(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(Lease {
                    name: text(r, "name")?,
                    holder: text(r, "holder")?,
                    epoch: u64::try_from(int(r, "epoch")?).unwrap_or(0),
                    expires_at: int(r, "expires_at")?,
                })
            })
            .collect()
    }

    async fn set_agent_presence(
        &self,
        tenant: TenantId,
        agent: UserId,
        presence: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        sqlx::query(&self.sql(
            "INSERT INTO agent_presence (tenant_id, user_id, presence, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET presence = excluded.presence, updated_at = excluded.updated_at",
        ))
        .bind(tenant.to_string())
        .bind(agent.to_string())
        .bind(presence.to_owned())
        .bind(now)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await
    }

    async fn record_edge(&self, edge: &EdgeRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO edges (edge_id, region, capacity, sip, active_calls, registered, replica, heard_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {now}) \
             ON CONFLICT (edge_id) DO UPDATE SET region = excluded.region, capacity = excluded.capacity, \
               sip = excluded.sip, active_calls = excluded.active_calls, registered = excluded.registered, \
               replica = excluded.replica, heard_at = excluded.heard_at",
            now = self.db_now_ms()
        );
        let registered = serde_json::to_string(&edge.registered).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut tx = self.begin(None, true).await?;
        sqlx::query(&self.sql(&sql))
            .bind(edge.edge_id.clone())
            .bind(edge.region.clone())
            .bind(i64::from(edge.capacity))
            .bind(edge.sip.clone())
            .bind(i64::from(edge.active_calls))
            .bind(registered)
            .bind(edge.replica.clone())
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await
    }

    async fn edges(&self) -> Result<Vec<(EdgeRecord, i64)>, StoreError> {
        let sql = format!(
            "SELECT edge_id, region, capacity, sip, active_calls, registered, replica, {} - heard_at AS ago \
             FROM edges ORDER BY edge_id",
            self.db_now_ms()
        );
        let mut tx = self.begin(None, false).await?;
        let rows = sqlx::query(&self.sql(&sql)).fetch_all(&mut *tx.tx).await.map_err(backend_err)?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let edge = EdgeRecord {
                    edge_id: text(r, "edge_id")?,
                    region: text(r, "region")?,
                    capacity: u32::try_from(int(r, "capacity")?).unwrap_or(0),
                    sip: text(r, "sip")?,
                    active_calls: u32::try_from(int(r, "active_calls")?).unwrap_or(0),
                    registered: serde_json::from_str(&text(r, "registered")?).unwrap_or_default(),
                    replica: text(r, "replica")?,
                };
                Ok((edge, int(r, "ago")?))
            })
            .collect()
    }

    async fn forget_edge(&self, edge_id: &str, silent_ms: i64) -> Result<bool, StoreError> {
        // The silence is checked in the same statement: a heartbeat in between keeps the edge.
        let sql = format!("DELETE FROM edges WHERE edge_id = $1 AND heard_at < {} - $2", self.db_now_ms());
        let mut tx = self.begin(None, true).await?;
        let done = sqlx::query(&self.sql(&sql))
            .bind(edge_id.to_owned())
            .bind(silent_ms)
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn agent_presences(&self, tenant: TenantId) -> Result<Vec<(UserId, String)>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(&self.sql("SELECT user_id, presence FROM agent_presence WHERE tenant_id = $1"))
            .bind(tenant.to_string())
            .fetch_all(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter().map(|r| Ok((parse(r, "user_id")?, text(r, "presence")?))).collect()
    }
}

impl SqlStore {
    async fn reports(&self, tenant: TenantId, filter: &str) -> Result<Vec<UsageReport>, StoreError> {
        let mut tx = self.begin(Some(tenant), false).await?;
        let rows = sqlx::query(
            &self.sql(&format!("SELECT id, kind, quantity, sealed_at, sent_at FROM usage_reports {filter}")),
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let kind = text(r, "kind")?;
                Ok(UsageReport {
                    id: text(r, "id")?,
                    kind: UsageKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("usage kind {kind}")))?,
                    quantity: u64::try_from(int(r, "quantity")?).unwrap_or(0),
                    sealed_at: int(r, "sealed_at")?,
                    sent_at: opt_int(r, "sent_at")?,
                })
            })
            .collect()
    }
}

/// Inserts a usage record unless its (kind, source) is already there; true when new.
async fn insert_usage(
    store: &SqlStore,
    tx: &mut crate::Tx<'_>,
    tenant: TenantId,
    r: &UsageRecord,
) -> Result<bool, StoreError> {
    let done = sqlx::query(&store.sql(
        "INSERT INTO usage_records (tenant_id, kind, source, quantity, at, report_id) VALUES ($1, $2, $3, $4, $5, NULL) \
         ON CONFLICT (tenant_id, kind, source) DO NOTHING",
    ))
    .bind(tenant.to_string())
    .bind(r.kind.as_str())
    .bind(r.source.clone())
    .bind(i64::try_from(r.quantity).unwrap_or(i64::MAX))
    .bind(r.at)
    .execute(&mut *tx.tx)
    .await
    .map_err(backend_err)?;
    Ok(done.rows_affected() == 1)
}

fn delivery_json(d: &WebhookDelivery) -> Result<String, StoreError> {
    serde_json::to_string(d).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn delivery_from_row(row: &sqlx::any::AnyRow) -> Result<WebhookDelivery, StoreError> {
    serde_json::from_str(&text(row, "body")?).map_err(|e| StoreError::Corrupt(format!("delivery: {e}")))
}

fn contact_json(c: &Contact) -> Result<String, StoreError> {
    serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn contact_from_row(row: &sqlx::any::AnyRow) -> Result<Contact, StoreError> {
    serde_json::from_str(&text(row, "body")?).map_err(|e| StoreError::Corrupt(format!("contact: {e}")))
}

fn session_from_row(row: &sqlx::any::AnyRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: parse(row, "id")?,
        user_id: parse(row, "user_id")?,
        created_at: int(row, "created_at")?,
        revoked_at: opt_int(row, "revoked_at")?,
    })
}

impl SqlStore {
    async fn append_event(
        &self,
        tx: &mut crate::Tx<'_>,
        tenant: TenantId,
        contact: ContactId,
        event: &ContactEvent,
    ) -> Result<(), StoreError> {
        let next = sqlx::query(&self.sql(
            "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM contact_events WHERE tenant_id = $1 AND contact_id = $2",
        ))
        .bind(tenant.to_string())
        .bind(contact.to_string())
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        let seq = int(&next, "next")?;
        sqlx::query(&self.sql(
            "INSERT INTO contact_events (tenant_id, contact_id, seq, at, kind, data) VALUES ($1, $2, $3, $4, $5, $6)",
        ))
        .bind(tenant.to_string())
        .bind(contact.to_string())
        .bind(seq)
        .bind(event.at)
        .bind(event.kind.clone())
        .bind(event.data.to_string())
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn insert_refresh(
        &self,
        tx: &mut crate::Tx<'_>,
        tenant: TenantId,
        token: &RefreshToken,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.sql(
            "INSERT INTO refresh_tokens (tenant_id, id, session_id, secret_hash, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        ))
        .bind(tenant.to_string())
        .bind(token.id.clone())
        .bind(token.session_id.to_string())
        .bind(token.secret_hash.clone())
        .bind(token.expires_at)
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn claim_key(
        &self,
        tx: &mut crate::Tx<'_>,
        tenant: TenantId,
        kind: DocKind,
        key: &str,
        doc_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            &self.sql("INSERT INTO doc_directory (kind, global_key, tenant_id, doc_id) VALUES ($1, $2, $3, $4)"),
        )
        .bind(kind.as_str())
        .bind(key.to_owned())
        .bind(tenant.to_string())
        .bind(doc_id.to_owned())
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| conflict_or(e, "address already in use"))?;
        Ok(())
    }

    async fn release_key(
        &self,
        tx: &mut crate::Tx<'_>,
        tenant: TenantId,
        kind: DocKind,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(&self.sql("DELETE FROM doc_directory WHERE kind = $1 AND global_key = $2 AND tenant_id = $3"))
            .bind(kind.as_str())
            .bind(key.to_owned())
            .bind(tenant.to_string())
            .execute(&mut *tx.tx)
            .await
            .map_err(backend_err)?;
        Ok(())
    }
}

/// A stored message; its number comes from the column (bodies written before numbering lack it).
fn message_row(row: &sqlx::any::AnyRow) -> Result<ChannelMessage, StoreError> {
    let mut m: ChannelMessage =
        serde_json::from_str(&text(row, "body")?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    m.seq = u64::try_from(int(row, "seq")?).unwrap_or(0);
    Ok(m)
}

impl SqlStore {
    /// A contact transition, optionally fenced by a lease (see `Store::update_contact_fenced`).
    async fn write_contact(
        &self,
        tenant: TenantId,
        contact: &Contact,
        event: &ContactEvent,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Some(tenant), true).await?;
        if let Some(fence) = fence {
            // FOR SHARE on PostgreSQL: a takeover's lease update waits for this transaction, so
            // the new driver's rebuild sees this write. SQLite has one writer at a time anyway.
            let lock = if self.backend == crate::Backend::Postgres { " FOR SHARE" } else { "" };
            let sql = format!(
                "SELECT epoch FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > {}{lock}",
                self.db_now_ms()
            );
            let held = sqlx::query(&self.sql(&sql))
                .bind(fence.lease.clone())
                .bind(fence.holder.clone())
                .bind(i64::try_from(fence.epoch).unwrap_or(i64::MAX))
                .fetch_optional(&mut *tx.tx)
                .await
                .map_err(backend_err)?;
            if held.is_none() {
                return Err(StoreError::Fenced(format!(
                    "{} is no longer {}'s at epoch {}",
                    fence.lease, fence.holder, fence.epoch
                )));
            }
        }
        let done = sqlx::query(&self.sql(
            "UPDATE contacts SET queue_id = $3, state = $4, agent_id = $5, updated_at = $6, body = $7, customer = $8 \
             WHERE tenant_id = $1 AND id = $2",
        ))
        .bind(tenant.to_string())
        .bind(contact.id.to_string())
        .bind(contact.queue_id.to_string())
        .bind(contact.state.as_str())
        .bind(contact.agent_id.map(|a| a.to_string()))
        .bind(contact.updated_at)
        .bind(contact_json(contact)?)
        .bind(contact.customer.clone())
        .execute(&mut *tx.tx)
        .await
        .map_err(backend_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.append_event(&mut tx, tenant, contact.id, event).await?;
        tx.commit().await
    }
}
