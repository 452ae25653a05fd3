DROP TABLE csat_surveys;
