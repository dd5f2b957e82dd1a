package coffer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file is the one definition of what a tenant may name or send: the API checks a
// request with these rules before anything is recorded or started, and the guest agent
// checks them again before anything reaches its engine, so that a request the guest would
// refuse is refused at once with a 400 instead of ending in ERROR.

// Limits of what tenants send, stated in the API's OpenAPI document too.
const (
	// MaxNameLength is the longest instance or backup name, in characters.
	MaxNameLength = 255
	// MaxDescriptionLength is the longest backup description, in characters.
	MaxDescriptionLength = 512
	// MinPasswordLength is the shortest password any check accepts, in bytes; the API asks
	// for more (quotas.min_password_length in its configuration).
	MinPasswordLength = 1
	// MaxPasswordLength is the longest password, in bytes.
	MaxPasswordLength = 255
	// MaxCloudIDLength is the longest OpenStack ID (flavor, volume type) Coffer passes on.
	MaxCloudIDLength = 255
)

// Patterns of the rules, as the OpenAPI document states them.
const (
	// IdentifierPattern is a database or user name (see ValidIdentifier).
	IdentifierPattern = `^[A-Za-z_][A-Za-z0-9_-]{0,62}$`
	HostPattern       = `^[A-Za-z0-9.%:_-]{1,255}$`
	CharsetPattern    = `^[A-Za-z0-9_]{1,32}$`
	CollationPattern  = `^[A-Za-z0-9_.@-]{1,64}$`
	// CloudIDPattern is an OpenStack ID Coffer sends in a URL path: letters, digits, '.',
	// '_' or '-', starting with a letter or digit (so never "." or "..").
	CloudIDPattern = `^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`
	// VolumeTypePattern is a Cinder volume type's name or ID.
	VolumeTypePattern = `^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,254}$`
)

var (
	hostRule       = regexp.MustCompile(HostPattern)
	charsetRule    = regexp.MustCompile(CharsetPattern)
	collationRule  = regexp.MustCompile(CollationPattern)
	cloudIDRule    = regexp.MustCompile(CloudIDPattern)
	volumeTypeRule = regexp.MustCompile(VolumeTypePattern)
)

// reservedNames are database and user names the engine or Coffer itself uses.
var reservedNames = []string{"postgres", "template0", "template1", "coffer_agent", "coffer_replicator"}

// RootUserName is the managed-service master user that root enable makes; tenants may not
// make or change a user of that name otherwise.
const RootUserName = "root"

// ValidDatabaseName reports whether name may be a tenant's database, and why not.
func ValidDatabaseName(name string) error {
	if err := ValidIdentifier(name); err != nil {
		return err
	}
	if slices.Contains(reservedNames, strings.ToLower(name)) {
		return fmt.Errorf("%s is a reserved name", name)
	}
	return nil
}

// ValidUserName reports whether name may be a tenant's database user, and why not: besides
// a database name's rules, never root nor one of PostgreSQL's predefined pg_* roles.
func ValidUserName(name string) error {
	if err := ValidDatabaseName(name); err != nil {
		return err
	}
	lower := strings.ToLower(name)
	if lower == RootUserName || strings.HasPrefix(lower, "pg_") {
		return fmt.Errorf("%s is a reserved name", name)
	}
	return nil
}

// ValidPassword reports whether a database user's password of at least minLength bytes
// (never fewer than MinPasswordLength) is acceptable, and why not. The message never holds
// the password.
func ValidPassword(password string, minLength int) error {
	minLength = max(minLength, MinPasswordLength)
	switch {
	case len(password) < minLength:
		return fmt.Errorf("the password must be at least %d characters long", minLength)
	case len(password) > MaxPasswordLength:
		return fmt.Errorf("the password must be at most %d characters long", MaxPasswordLength)
	case !utf8.ValidString(password):
		return fmt.Errorf("the password is not valid UTF-8")
	case strings.ContainsFunc(password, unicode.IsControl):
		return fmt.Errorf("the password holds a control character")
	}
	return nil
}

// ValidHost reports whether host may be the host of a user (an address, a name, '%'
// wildcards, as MySQL's); empty is the default host.
func ValidHost(host string) error {
	if host != "" && !hostRule.MatchString(host) {
		return fmt.Errorf("host %q is not valid: use an address, a host name or '%%'", host)
	}
	return nil
}

// ValidCharacterSet reports whether cs may name an encoding; empty is the engine's default.
func ValidCharacterSet(cs string) error {
	if cs != "" && !charsetRule.MatchString(cs) {
		return fmt.Errorf("character set %q is not an encoding name", cs)
	}
	return nil
}

// ValidCollation reports whether c may name a collation; empty is the engine's default.
func ValidCollation(c string) error {
	if c != "" && !collationRule.MatchString(c) {
		return fmt.Errorf("collation %q is not a locale name", c)
	}
	return nil
}

// ValidCloudID reports whether id may be an OpenStack ID (a flavor, an image, a server):
// anything else could address another resource once in a URL path.
func ValidCloudID(id string) error {
	if !cloudIDRule.MatchString(id) {
		return fmt.Errorf("%q is not an ID: use letters, digits, '.', '_' or '-'", id)
	}
	return nil
}

// ValidVolumeType reports whether t may name a Cinder volume type; empty is the default.
func ValidVolumeType(t string) error {
	if t != "" && !volumeTypeRule.MatchString(t) {
		return fmt.Errorf("volume type %q is not a type name", t)
	}
	return nil
}

// ValidText reports whether s may be stored as a name or description of at most max
// characters: valid UTF-8 without control characters (NUL among them, which PostgreSQL
// cannot store).
func ValidText(s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("is not valid UTF-8")
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("holds a control character")
	case utf8.RuneCountInString(s) > max:
		return fmt.Errorf("is longer than %d characters", max)
	}
	return nil
}
