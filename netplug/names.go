package netplug

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
)

// Kernel object names. Every link berth creates starts with "bth"; bridges
// with BridgePrefix, host ends of veth pairs with VethPrefix. Both are
// derived from names (a hash), so an interrupted run can find them again
// without state, and they fit IFNAMSIZ (15 characters).
const (
	BridgePrefix = "bth-" // + 10 hex = 14 characters
	VethPrefix   = "bthv" // + 11 hex = 15 characters
)

// validName is Docker's rule for network names, also used for sandbox ids:
// they become file names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func checkName(kind, name string) error {
	if !validName.MatchString(name) || len(name) > 255 {
		return fmt.Errorf("%s name %q: must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (at most 255 characters): %w", kind, name, ErrInvalidArgument)
	}
	return nil
}

func shortHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// bridgeName is the bridge of network id (the random id, not the name, so a
// network removed and created again while a stale bridge lingers in
// another namespace never collides).
func bridgeName(networkID string) string { return BridgePrefix + shortHash(networkID)[:10] }

// vethName is the host end of sandbox id's veth on network networkID.
func vethName(sandboxID, networkID string) string {
	return VethPrefix + shortHash(sandboxID, networkID)[:11]
}

// validHostname is RFC 1123 labels joined by dots; aliases follow it too,
// plus "_" which Compose service names may contain.
var validHostname = regexp.MustCompile(`^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,62})(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,62}))*$`)

func checkHostname(what, name string) error {
	if !validHostname.MatchString(name) || len(name) > 253 {
		return fmt.Errorf("%s %q is not a valid host name: %w", what, name, ErrInvalidArgument)
	}
	return nil
}
