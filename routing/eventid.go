package routing

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
)

// crockford is the ULID alphabet (no I, L, O, U).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewEventID returns a ULID: 48 bits of Unix milliseconds then 80 random bits, in
// Crockford base32. IDs sort by creation time, which keeps store indexes append-friendly.
func NewEventID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the kernel RNG does not fail on Linux
	}
	var out [26]byte
	// 128 bits -> 26 base32 digits, most significant first (the top digit holds 3 bits).
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// validEventID accepts producer-chosen ids: 1..128 printable ASCII characters without
// spaces, so they are safe as file names, document ids and primary keys in every store.
func validEventID(id string) error {
	if len(id) == 0 || len(id) > 128 {
		return fmt.Errorf("must be 1 to 128 characters, got %d", len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c > '~' || c == '/' || c == '\\' {
			return fmt.Errorf("character %q at %d is not allowed (printable ASCII except space, '/' and '\\')", c, i)
		}
	}
	return nil
}
