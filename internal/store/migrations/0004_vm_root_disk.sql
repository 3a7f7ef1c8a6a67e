-- The root disk the backend made for a VM: its path (relative to the VM's
-- directory, or absolute) and format ("raw", "qcow2"). Empty for VMs made
-- before this column existed; the VM service records theirs at their next
-- start.
ALTER TABLE vms ADD COLUMN root_disk TEXT NOT NULL DEFAULT '';
ALTER TABLE vms ADD COLUMN root_format TEXT NOT NULL DEFAULT '';
