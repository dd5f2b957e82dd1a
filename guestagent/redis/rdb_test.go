package redis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"testing"
)

func TestRDBCRCIsRedisCRC64(t *testing.T) {
	// Redis's crc64.c test vector.
	if got, want := ^crc64.Update(^uint64(0), rdbCRC, []byte("123456789")), uint64(0xe9c6d914c4b8d9ca); got != want {
		t.Fatalf("crc64 of 123456789: got %016x, want %016x", got, want)
	}
}

// rdbSnapshot frames body as an RDB: header, body, EOF mark and the CRC-64 trailer.
func rdbSnapshot(body string) []byte {
	b := append([]byte("REDIS0011"+body), 0xff)
	return binary.LittleEndian.AppendUint64(b, ^crc64.Update(^uint64(0), rdbCRC, b))
}

func TestRDBCheckerChecksSnapshotsWrittenInAnyPieces(t *testing.T) {
	whole := rdbSnapshot("\xfa\x09redis-ver\x057.0.15\xfe\x00\x00\x03key\x05value")
	flipped := append([]byte(nil), whole...)
	flipped[12] ^= 1
	marked := append(append([]byte(nil), whole...), "91a24d80b6ab2ed4e87d20f4fbd06b43a05b2d85"...)
	unchecked := append(append([]byte(nil), whole[:len(whole)-8]...), make([]byte, 8)...)
	for _, tc := range []struct {
		name string
		data []byte
		want func(error) bool
	}{
		{"whole", whole, func(err error) bool { return err == nil }},
		{"with a transfer's end mark", marked, func(err error) bool { return err == nil }},
		{"cut in its end mark", marked[:len(marked)-1], func(err error) bool { return err != nil && !errors.Is(err, errRDBUnchecked) }},
		{"a flipped bit", flipped, func(err error) bool { return err != nil && !errors.Is(err, errRDBUnchecked) }},
		{"cut short", whole[:len(whole)-5], func(err error) bool { return err != nil && !errors.Is(err, errRDBUnchecked) }},
		{"cut at half", whole[:len(whole)/2], func(err error) bool { return err != nil && !errors.Is(err, errRDBUnchecked) }},
		{"not an RDB", []byte("PGDMP and some more bytes"), func(err error) bool { return err != nil && !errors.Is(err, errRDBUnchecked) }},
		{"no checksum", unchecked, func(err error) bool { return errors.Is(err, errRDBUnchecked) }},
	} {
		for _, piece := range []int{1, 3, 7, 8, 9, 16, len(tc.data)} {
			t.Run(fmt.Sprintf("%s/in pieces of %d", tc.name, piece), func(t *testing.T) {
				c := newRDBChecker(io.Discard)
				for rest := tc.data; len(rest) > 0; {
					n := min(piece, len(rest))
					if _, err := c.Write(rest[:n]); err != nil {
						t.Fatal(err)
					}
					rest = rest[n:]
				}
				if err := c.check(); !tc.want(err) {
					t.Errorf("check: got %v", err)
				}
			})
		}
	}
}
