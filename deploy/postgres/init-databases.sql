-- Run once by the postgres image at first start: one database per service, none shared.
CREATE DATABASE iam;
CREATE DATABASE enablement;
CREATE DATABASE istanze;
CREATE DATABASE notifier;
