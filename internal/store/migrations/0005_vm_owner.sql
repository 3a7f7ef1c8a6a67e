-- The uid of the user who created a VM (from the caller's SO_PEERCRED).
-- A user who is not root sees and controls only the VMs it owns. VMs made
-- before this column existed belong to root (0).
ALTER TABLE vms ADD COLUMN owner_uid INTEGER NOT NULL DEFAULT 0;
