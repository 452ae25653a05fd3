-- A failure report can arrive before the send that returned its message's external id is
-- recorded; its normalized error is kept with it so it can be applied later in full.
ALTER TABLE provider_status_events ADD COLUMN error_code TEXT;
ALTER TABLE provider_status_events ADD COLUMN error_reason TEXT;
