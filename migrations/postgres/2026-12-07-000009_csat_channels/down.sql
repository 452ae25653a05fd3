ALTER TABLE csat_surveys DROP COLUMN given_at;
