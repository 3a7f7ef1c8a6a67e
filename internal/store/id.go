package store

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns a random identifier of 12 lowercase hex characters.
func NewID() string {
	var b [6]byte
	// crypto/rand.Read never returns an error (it panics if the system
	// source fails).
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
