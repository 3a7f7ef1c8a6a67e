-- When a VM stops or goes away by itself (see docs/operations.md).
-- auto_stop_seconds: -1 follows the config's auto_stop_stale_after, 0
-- never stops the VM for idleness, N stops it after N idle seconds.
-- expires_at: RFC 3339 time at which the VM is deleted; '' never.
-- stopped_reason: why the VM last stopped when not asked to ("idle");
-- '' otherwise. Every state change clears it.
ALTER TABLE vms ADD COLUMN auto_stop_seconds INTEGER NOT NULL DEFAULT -1;
ALTER TABLE vms ADD COLUMN expires_at TEXT NOT NULL DEFAULT '';
ALTER TABLE vms ADD COLUMN stopped_reason TEXT NOT NULL DEFAULT '';
