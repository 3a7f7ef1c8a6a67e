-- The workspace a VM holds: which host repository was synced into it,
-- where it lives in the guest, and the HEAD commit it was synced at.
CREATE TABLE workspaces (
    vm_id      TEXT PRIMARY KEY REFERENCES vms(id) ON DELETE CASCADE,
    host_path  TEXT NOT NULL,
    guest_path TEXT NOT NULL,
    head       TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
