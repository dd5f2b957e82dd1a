package coffer_test

import (
	"strings"
	"testing"

	"github.com/coffer-dbaas/coffer"
)

// TestRulesRefuseWhatTheEngineOrOpenStackWouldNot checks the one definition of what
// tenants may send, which the API and the guest agent both apply.
func TestRulesRefuseWhatTheEngineOrOpenStackWouldNot(t *testing.T) {
	for _, tc := range []struct {
		rule  string
		check func(string) error
		ok    []string
		bad   []string
	}{
		{"database name", coffer.ValidDatabaseName,
			[]string{"orders", "_x", "a-b", strings.Repeat("d", 63)},
			[]string{"", "1db", "postgres", "Template1", "coffer_agent", "a b", "x\x00", strings.Repeat("d", 64)}},
		{"user name", coffer.ValidUserName,
			[]string{"app", "pgx", "rooted"},
			[]string{"root", "ROOT", "pg_monitor", "PG_x", "postgres", "coffer_replicator", `x"y`}},
		{"password", func(p string) error { return coffer.ValidPassword(p, 8) },
			[]string{"long-enough", `quo'te"s and spaces`, strings.Repeat("p", 255)},
			[]string{"", "x", "short", "long\x00enough", "long\nenough", "\xff\xfe-long-enough", strings.Repeat("p", 256)}},
		{"host", coffer.ValidHost,
			[]string{"", "%", "10.0.0.%", "db.example.com", "::1"},
			[]string{"a'b", "$(id)", "a;b", "a b", "a\x00"}},
		{"character set", coffer.ValidCharacterSet,
			[]string{"", "UTF8", "LATIN1", "SQL_ASCII"},
			[]string{"UTF-8", "UTF8;DROP", "a b", strings.Repeat("c", 33)}},
		{"collation", coffer.ValidCollation,
			[]string{"", "C", "en_US.UTF-8", "de_DE@euro"},
			[]string{"en_US'", "a b", "x\x00"}},
		{"cloud ID", coffer.ValidCloudID,
			[]string{"ds512M", "7", "2f1c3a4e-0000-4000-8000-000000000000", "m1.small"},
			[]string{"", ".", "..", "ds512M?x=1", "ds512M#frag", "../flavors/ds1G", "a/b", "%2e%2e", "a b", strings.Repeat("i", 256)}},
		{"volume type", coffer.ValidVolumeType,
			[]string{"", "ssd", "Fast SSD", "ceph:gold"},
			[]string{"'; DROP", "a/../b", "a?b", " lead"}},
		{"name", func(s string) error { return coffer.ValidText(s, coffer.MaxNameLength) },
			[]string{"", "orders", "Ärger über Öl", strings.Repeat("ü", 255)},
			[]string{"a\x00b", "a\tb", "\xff", strings.Repeat("n", 256)}},
	} {
		for _, s := range tc.ok {
			if err := tc.check(s); err != nil {
				t.Errorf("%s %q: got %v, want it accepted", tc.rule, s, err)
			}
		}
		for _, s := range tc.bad {
			if err := tc.check(s); err == nil {
				t.Errorf("%s %q: accepted, want it refused", tc.rule, s)
			}
		}
	}
}

// TestPasswordErrorsNeverHoldThePassword keeps passwords out of the messages that reach
// clients and logs.
func TestPasswordErrorsNeverHoldThePassword(t *testing.T) {
	for _, p := range []string{"secret\x00", "sec", "secret\n-password"} {
		if err := coffer.ValidPassword(p, 8); err == nil || strings.Contains(err.Error(), strings.TrimRight(p[:3], "\x00")) {
			t.Errorf("password %q: got error %v, want one that does not hold it", p, err)
		}
	}
}
