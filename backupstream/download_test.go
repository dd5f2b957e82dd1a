package backupstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

func openAheadForTest(key, stored []byte) ([]byte, error) {
	o, err := newOpenReader(bytes.NewReader(stored), key)
	if err != nil {
		return nil, err
	}
	a := newAheadReader(o)
	defer a.close()
	got, err := io.ReadAll(a)
	if final, oerr := a.outcome(); err == nil && (!final || oerr != nil) {
		err = errors.New("the outcome is not the final chunk")
	}
	return got, err
}

// The read-ahead gives what the openReader gives, more chunks than it holds buffers
// included, and fails as it does on a tampered stream.
func TestAheadReaderOpensAsTheOpenReader(t *testing.T) {
	key := testKey(9)
	for _, size := range []int{0, 1, minChunkSize, 3*minChunkSize + 1, (openAhead + 3) * minChunkSize, 40*minChunkSize + 17} {
		plain, _ := io.ReadAll(newPagesReader(uint64(size), int64(size), false))
		stored := sealForTest(t, key, plain)
		got, err := openAheadForTest(key, stored)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%d bytes: opened %d bytes (%v), want the %d sealed", size, len(got), err, size)
		}
		for name, bad := range map[string][]byte{
			"cut":              stored[:len(stored)-1],
			"data after final": append(bytes.Clone(stored), 0),
			"flipped":          func() []byte { b := bytes.Clone(stored); b[len(b)/2] ^= 1; return b }(),
		} {
			if _, err := openAheadForTest(key, bad); !errors.Is(err, ErrChecksum) {
				t.Errorf("%d bytes, %s: got %v, want ErrChecksum", size, name, err)
			}
		}
	}
}

// failingWriter fails once it has taken n bytes.
type failingWriter struct{ n int }

var errDestination = errors.New("the disk is full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errDestination
	}
	f.n -= len(p)
	return len(p), nil
}

// A destination that fails ends the download with its error, while the read-ahead is
// still fetching chunks the decoder will never take.
func TestDownloadStopsAtTheDestinationsFailure(t *testing.T) {
	tc := startCloud(t)
	res, _ := uploadForTest(t, tc, newPagesReader(7, 64<<20, false), testUploadOptions(t, "dest-fails"))
	err := Download(context.Background(), tc.swift, &failingWriter{n: 3 << 20}, downloadOptions(res, testKey(1)))
	if !errors.Is(err, errDestination) || errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want the destination's error", err)
	}
}
