-- Initial schema: kernels, images built on them, and VMs built on images.
-- Empty optional references/addresses are stored as NULL so UNIQUE only
-- applies to values that are actually assigned.

CREATE TABLE kernels (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL,
    initrd     TEXT NOT NULL DEFAULT '',
    version    TEXT NOT NULL DEFAULT '',
    managed    INTEGER NOT NULL DEFAULT 0 CHECK (managed IN (0, 1)),
    created_at TEXT NOT NULL
);

CREATE TABLE images (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    rootfs     TEXT NOT NULL,
    kernel_id  TEXT REFERENCES kernels(id) ON DELETE RESTRICT,
    size_bytes INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    managed    INTEGER NOT NULL DEFAULT 0 CHECK (managed IN (0, 1)),
    source     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE INDEX images_kernel_id ON images(kernel_id);

CREATE TABLE vms (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
    vcpus      INTEGER NOT NULL CHECK (vcpus > 0),
    memory_mib INTEGER NOT NULL CHECK (memory_mib > 0),
    disk_bytes INTEGER NOT NULL CHECK (disk_bytes >= 0),
    nat        INTEGER NOT NULL DEFAULT 0 CHECK (nat IN (0, 1)),
    ip         TEXT UNIQUE,
    mac        TEXT UNIQUE,
    backend    TEXT NOT NULL DEFAULT '',
    guest_cid  INTEGER UNIQUE,
    state      TEXT NOT NULL CHECK (state IN ('created', 'running', 'stopped')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX vms_image_id ON vms(image_id);
