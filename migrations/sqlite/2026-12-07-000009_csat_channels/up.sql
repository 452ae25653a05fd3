-- Issue #19 (surveys on every channel): when the customer gave their latest answer by the
-- channel's own clock (a WhatsApp pick's timestamp, an API event's), so an answer the
-- provider redelivers late never overwrites a newer one. `answered_at` stays the hub's time
-- of recording (reports find late answers by it).
ALTER TABLE csat_surveys ADD COLUMN given_at TEXT;
