-- The init a VM boots, when it is not its image's: "agent" (banger-agent
-- as PID 1) or "systemd" (the image's /sbin/init). Empty: the image's.
ALTER TABLE vms ADD COLUMN init TEXT NOT NULL DEFAULT '';
