// Package newid makes the random identifiers the stores give customers and
// keys created without one.
package newid

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns prefix followed by 24 random hex digits (96 bits), e.g.
// "cus_3f9a…". crypto/rand never fails on supported platforms.
func New(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Prefixes of the generated identifiers.
const (
	Customer = "cus_"
	Key      = "key_"
)
