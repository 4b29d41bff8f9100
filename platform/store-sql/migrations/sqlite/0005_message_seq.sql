-- Messages are numbered per conversation (chat resume, transcript order).
-- The counter lives on the contact row, so numbering one conversation locks only that row.
ALTER TABLE contacts ADD COLUMN msg_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET seq = (
    SELECT COUNT(*) FROM messages m2
    WHERE m2.tenant_id = messages.tenant_id AND m2.contact_id = messages.contact_id
      AND (m2.at < messages.at OR (m2.at = messages.at AND m2.id <= messages.id))
) WHERE contact_id IS NOT NULL;
UPDATE contacts SET msg_seq = (
    SELECT COUNT(*) FROM messages m WHERE m.tenant_id = contacts.tenant_id AND m.contact_id = contacts.id
);
CREATE UNIQUE INDEX messages_seq ON messages (tenant_id, contact_id, seq) WHERE contact_id IS NOT NULL;
