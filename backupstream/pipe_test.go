package backupstream

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func TestPipeCarriesEverythingInOrder(t *testing.T) {
	want := make([]byte, 3<<20+17)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(r.IntN(256))
	}
	p := NewPipe(3, 64<<10)
	go func() {
		rest := want
		for len(rest) > 0 {
			n := min(len(rest), 1+r.IntN(200<<10))
			if _, err := p.Write(rest[:n]); err != nil {
				p.CloseWithError(err)
				return
			}
			rest = rest[n:]
		}
		p.Close()
	}()
	got, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes that differ from the %d written", len(got), len(want))
	}
}

func TestPipeGivesTheWritersErrorAfterItsData(t *testing.T) {
	p := NewPipe(2, 4096)
	boom := errors.New("boom")
	go func() {
		p.Write([]byte("hello"))
		p.CloseWithError(boom)
	}()
	got, err := io.ReadAll(p)
	if string(got) != "hello" || !errors.Is(err, boom) {
		t.Fatalf("read %q, %v; want hello, boom", got, err)
	}
}

func TestPipeUnblocksTheWriterWhenTheReaderCloses(t *testing.T) {
	p := NewPipe(2, 4096)
	boom := errors.New("unpack failed")
	done := make(chan error)
	go func() {
		_, err := p.Write(make([]byte, 1<<20)) // more than the pipe holds: blocks
		done <- err
	}()
	buf := make([]byte, 10)
	if _, err := p.Read(buf); err != nil {
		t.Fatal(err)
	}
	p.CloseReader(boom)
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("write after the reader's close: %v, want %v", err, boom)
	}
}
