package guestagent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A WritebackFile writes what it is given, in order, across its writeback steps.
func TestWritebackFileWritesWhatItIsGiven(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWritebackFile(f)
	var want bytes.Buffer
	for i := range 40 {
		p := bytes.Repeat([]byte{byte(i)}, 1<<20+i)
		if n, err := w.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
		want.Write(p)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, want.Len())
	}
}
