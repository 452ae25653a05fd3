DROP TABLE sla_clocks;
DROP TABLE sla_states;
DROP TABLE sla_policies;
DROP TABLE inbox_schedules;
DROP TABLE business_schedules;
