package postgres

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

func TestBackupRestoresIntoAnotherInstanceWithItsOwnAgentPassword(t *testing.T) {
	ctx := testContext(t)
	srcInst := newInstance(newVolume(t), 256)
	src := newTestDriver(t, srcInst)
	if err := src.Prepare(ctx, guest.PrepareInput{
		Databases: []coffer.Database{{Name: "shop"}},
		Users:     []coffer.User{{Name: "clerk", Password: "clerk-pw", Databases: []string{"shop"}}},
	}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	clerk, err := connectAs(ctx, srcInst, "clerk", "clerk-pw", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clerk.Exec(ctx, "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g"); err != nil {
		t.Fatal(err)
	}
	clerk.Close(ctx)

	var stream bytes.Buffer
	if err := src.Backup(ctx, &stream); err != nil {
		t.Fatalf("Backup: %v", err)
	}

	// A failing stream (a checksum mismatch found at its end) leaves nothing behind.
	dstInst := newInstance(newVolume(t), 256)
	dst := newTestDriver(t, dstInst)
	corrupt := errors.New("backup checksum mismatch")
	err = dst.Restore(ctx, func(w io.Writer) error {
		if _, err := w.Write(stream.Bytes()); err != nil {
			return err
		}
		return corrupt
	})
	if !errors.Is(err, corrupt) {
		t.Fatalf("Restore of a corrupt stream: got %v, want the stream's error", err)
	}
	if dst.cluster.Initialized() {
		t.Fatal("a failed restore left a cluster in place")
	}
	if _, err := os.Stat(dst.cluster.DataDir + ".restore"); !os.IsNotExist(err) {
		t.Errorf("a failed restore left its staging folder: %v", err)
	}

	if err := dst.Restore(ctx, func(w io.Writer) error { _, err := w.Write(stream.Bytes()); return err }); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if err := dst.Prepare(ctx, guest.PrepareInput{}); err != nil {
		t.Fatalf("Prepare after restore: %v", err)
	}
	if r := dst.Health(ctx); r.Status != coffer.ServiceHealthy {
		t.Fatalf("health after restore: %+v (the agent's own password must work)", r)
	}
	clerk, err = connectAs(ctx, dstInst, "clerk", "clerk-pw", "shop")
	if err != nil {
		t.Fatalf("clerk connects to the restored instance: %v", err)
	}
	defer clerk.Close(ctx)
	var n int
	if err := clerk.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1000 {
		t.Fatalf("restored rows: got %d, %v; want 1000", n, err)
	}
	if err := dst.Restore(ctx, func(io.Writer) error { return nil }); !errors.Is(err, guestagent.ErrInvalid) {
		t.Errorf("Restore over a cluster: got %v, want ErrInvalid", err)
	}
}

func TestUntarRefusesEntriesThatLeaveTheFolder(t *testing.T) {
	for _, h := range []tar.Header{
		{Name: "/etc/passwd", Typeflag: tar.TypeReg},
		{Name: "../escape", Typeflag: tar.TypeReg},
		{Name: "base/../../escape", Typeflag: tar.TypeReg},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		h.Mode = 0o600
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Close()
		dir := t.TempDir()
		err := untar(&buf, dir)
		if err == nil {
			t.Errorf("untar of %q (%c): got no error, want a refusal", h.Name, h.Typeflag)
		}
		if _, serr := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); serr == nil {
			t.Errorf("untar of %q wrote outside the folder", h.Name)
		}
		if err != nil && !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("untar of %q: got %v, want it to say what is not allowed", h.Name, err)
		}
	}
}
