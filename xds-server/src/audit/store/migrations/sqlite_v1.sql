-- kubeplex audit store, schema version 1 (SQLite). Frozen: a change is a
-- new migration. One table, one column per audit record field
-- (proto/kubeplex/audit/v1/audit.proto), plus seq: the order of storing.
CREATE TABLE kubeplex_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    "request_id" TEXT NOT NULL UNIQUE,
    "user_agent" TEXT NOT NULL DEFAULT '',
    "method" TEXT NOT NULL DEFAULT '',
    "path" TEXT NOT NULL DEFAULT '',
    "decision" TEXT NOT NULL DEFAULT '',
    "reason" TEXT NOT NULL DEFAULT '',
    "message" TEXT NOT NULL DEFAULT '',
    "user" TEXT NOT NULL DEFAULT '',
    "groups" TEXT NOT NULL DEFAULT '[]',
    "uid" TEXT NOT NULL DEFAULT '',
    "issuer" TEXT NOT NULL DEFAULT '',
    "jti" TEXT NOT NULL DEFAULT '',
    "cluster" TEXT NOT NULL DEFAULT '',
    "verb" TEXT NOT NULL DEFAULT '',
    "api_group" TEXT NOT NULL DEFAULT '',
    "api_version" TEXT NOT NULL DEFAULT '',
    "resource" TEXT NOT NULL DEFAULT '',
    "subresource" TEXT NOT NULL DEFAULT '',
    "namespace" TEXT NOT NULL DEFAULT '',
    "name" TEXT NOT NULL DEFAULT '',
    "config_version" TEXT NOT NULL DEFAULT '',
    "kubectl_command" TEXT NOT NULL DEFAULT '',
    "kubectl_session" TEXT NOT NULL DEFAULT '',
    "stream_ended" TEXT NOT NULL DEFAULT '',
    "stream_ended_by" TEXT NOT NULL DEFAULT '',
    "time" TEXT NOT NULL,
    "source" TEXT NOT NULL DEFAULT '',
    "code" INTEGER NOT NULL DEFAULT 0,
    "flags" TEXT NOT NULL DEFAULT '',
    "duration_ms" INTEGER NOT NULL DEFAULT 0,
    "bytes_in" INTEGER NOT NULL DEFAULT 0,
    "bytes_out" INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX kubeplex_audit_time ON kubeplex_audit ("time");
CREATE INDEX kubeplex_audit_user ON kubeplex_audit ("user", "time");
CREATE INDEX kubeplex_audit_cluster ON kubeplex_audit ("cluster", "time");
CREATE INDEX kubeplex_audit_decision ON kubeplex_audit ("decision", "time");
CREATE INDEX kubeplex_audit_session ON kubeplex_audit ("kubectl_session");
