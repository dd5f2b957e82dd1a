package backupstream

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A streamed segment PUT reads its spool file as it is written: all of it, in order, then
// EOF once the writer ends it; a writer's failure reaches the reader.
func TestFollowReaderReadsTheSpoolFileAsItGrows(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := newFollowReader(f)
	var want bytes.Buffer
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	for i := range 200 {
		part := bytes.Repeat([]byte{byte(i)}, 1000+i)
		if _, err := f.Write(part); err != nil {
			t.Fatal(err)
		}
		want.Write(part)
		r.grew(len(part))
	}
	r.close(nil)
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("read %d bytes, want the %d written", len(b), want.Len())
	}

	failed := newFollowReader(f)
	boom := errors.New("boom")
	go failed.close(boom)
	if _, err := io.ReadAll(failed); !errors.Is(err, boom) {
		t.Fatalf("read after the writer failed: %v, want %v", err, boom)
	}
}
