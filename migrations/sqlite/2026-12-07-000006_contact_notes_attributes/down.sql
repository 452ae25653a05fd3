DROP TABLE contact_attributes;
DROP TABLE contact_notes;
