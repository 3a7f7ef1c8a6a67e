package config

import "time"

// DefaultOperationsKeep is how long finished operation records are kept
// when operations_keep is unset.
const DefaultOperationsKeep = "24h"

// OperationsKeepDuration returns operations_keep parsed (the default if
// unset): how long the daemon keeps the record of a finished operation.
func (c *Config) OperationsKeepDuration() (time.Duration, error) {
	return duration("operations_keep", c.OperationsKeep, DefaultOperationsKeep)
}
