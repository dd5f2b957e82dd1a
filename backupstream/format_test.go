package backupstream

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// sealForTest seals plain in chunks of minChunkSize and returns the stored stream.
func sealForTest(t *testing.T, key, plain []byte) []byte {
	t.Helper()
	h, err := newHeader(minChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.Write(h[:])
	w, err := newSealWriter(&out, key, h[:], minChunkSize, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func openForTest(key, stored []byte) ([]byte, error) {
	r, err := newOpenReader(bytes.NewReader(stored), key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestSealedChunksOpenToThePlaintext(t *testing.T) {
	key := testKey(9)
	for _, size := range []int{0, 1, minChunkSize - 1, minChunkSize, minChunkSize + 1, 3 * minChunkSize, 5*minChunkSize + 17} {
		plain, _ := io.ReadAll(newPagesReader(uint64(size), int64(size), false))
		stored := sealForTest(t, key, plain)
		chunks := max(1, (size+minChunkSize-1)/minChunkSize)
		if want := headerSize + size + 16*chunks; len(stored) != want {
			t.Errorf("%d bytes: stored %d bytes, want %d", size, len(stored), want)
		}
		got, err := openForTest(key, stored)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%d bytes: opened %d bytes (%v), want the %d sealed", size, len(got), err, size)
		}
	}
}

func TestTamperedStreamsFailWithErrChecksum(t *testing.T) {
	key := testKey(9)
	plain, _ := io.ReadAll(newPagesReader(1, 3*minChunkSize, false)) // 3 full chunks, the last final
	stored := sealForTest(t, key, plain)
	sealed := minChunkSize + 16
	chunk := func(i int) []byte { return stored[headerSize+i*sealed : headerSize+(i+1)*sealed] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	header := stored[:headerSize]
	flipped := func(off int) []byte {
		b := bytes.Clone(stored)
		b[off] ^= 0x80
		return b
	}

	for _, tt := range []struct {
		name   string
		stored []byte
	}{
		{"cut at a chunk boundary", join(header, chunk(0), chunk(1))},
		{"cut inside a chunk", stored[:len(stored)-100]},
		{"cut inside the header", stored[:10]},
		{"a chunk dropped", join(header, chunk(0), chunk(2))},
		{"chunks swapped", join(header, chunk(1), chunk(0), chunk(2))},
		{"data after the final chunk", join(stored, []byte{0})},
		{"a flipped byte in a chunk", flipped(headerSize + sealed + 10)},
		{"a flipped byte in the nonce prefix", flipped(17)},
		{"a flipped byte in the magic", flipped(0)},
		{"a changed chunk size", flipped(14)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := openForTest(key, tt.stored); !errors.Is(err, ErrChecksum) {
				t.Errorf("got %v, want ErrChecksum", err)
			}
		})
	}
}

func TestWrappedKeyOpensOnlyWithItsMasterKey(t *testing.T) {
	data := testKey(100)
	wrapped, err := wrapKey(testKey(1), data)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := unwrapKey(testKey(1), wrapped); err != nil || !bytes.Equal(got, data) {
		t.Errorf("unwrap with the master key: got %x, %v", got, err)
	}
	if _, err := unwrapKey(testKey(2), wrapped); !errors.Is(err, ErrWrongKey) {
		t.Errorf("unwrap with another key: got %v, want ErrWrongKey", err)
	}
	if _, err := unwrapKey(testKey(1), wrapped[:len(wrapped)-4]); !errors.Is(err, ErrWrongKey) {
		t.Errorf("unwrap of a cut wrapping: got %v, want ErrWrongKey", err)
	}
	if _, err := wrapKey(make([]byte, 16), data); err == nil {
		t.Error("a 16-byte master key was accepted")
	}
}
