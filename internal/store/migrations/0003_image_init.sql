-- The init program an image needs on the kernel command line (init=...),
-- e.g. /sbin/banger-init for container images without systemd. Empty means
-- the kernel's default.
ALTER TABLE images ADD COLUMN init TEXT NOT NULL DEFAULT '';
