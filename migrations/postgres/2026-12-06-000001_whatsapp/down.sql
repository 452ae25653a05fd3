DROP TABLE channel_templates;
ALTER TABLE contact_identities DROP COLUMN last_inbound_at;
