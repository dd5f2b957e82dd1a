package api

import (
	"testing"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// TestGuestLogStatusFollowsTrove derives each of Trove's log statuses from what the guest
// reports.
func TestGuestLogStatusFollowsTrove(t *testing.T) {
	inst := &coffer.Instance{ID: "i-1", Datastore: "postgresql"}
	for _, c := range []struct {
		log     guest.LogInfo
		status  string
		pending int64
	}{
		{guest.LogInfo{Type: guest.LogUser, Enabled: false, Size: 100}, "Disabled", 0},
		{guest.LogInfo{Type: guest.LogUser, Enabled: true}, "Enabled", 0},
		{guest.LogInfo{Type: guest.LogSys, Enabled: true}, "Unavailable", 0},
		{guest.LogInfo{Type: guest.LogUser, Enabled: true, Size: 100}, "Ready", 100},
		{guest.LogInfo{Type: guest.LogUser, Enabled: true, Size: 100, Published: 100}, "Published", 0},
		{guest.LogInfo{Type: guest.LogUser, Enabled: true, Size: 150, Published: 100}, "Partial", 50},
		{guest.LogInfo{Type: guest.LogUser, Enabled: true, Size: 40, Published: 100}, "Rotated", 40},
	} {
		c.log.Name = "general"
		v := guestLogView(inst, c.log)
		if v.Status != c.status || v.Pending != c.pending {
			t.Errorf("%+v: got status %s, pending %d; want %s, %d", c.log, v.Status, v.Pending, c.status, c.pending)
		}
		if v.Container != "database_logs" || v.Prefix != "i-1/postgresql-general/" || v.Metafile != "i-1/postgresql-general_metafile" {
			t.Errorf("%+v: got container %q, prefix %q, metafile %q; want Trove's", c.log, v.Container, v.Prefix, v.Metafile)
		}
	}
}
