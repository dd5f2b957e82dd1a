package redis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
)

// rdbCRC is Redis's CRC-64 (Jones, reflected), which an RDB snapshot ends with: crc64's
// table of the reversed polynomial, with Redis's initial value 0 and no final XOR.
var rdbCRC = crc64.MakeTable(0x95ac9329ac4bc9b5)

// errRDBUnchecked means a snapshot was made with rdbchecksum off: its trailer is zero, so
// only a full parse can tell whether it is whole.
var errRDBUnchecked = errors.New("the snapshot carries no checksum")

// rdbChecker passes a snapshot through to w while it checks the snapshot's frame as it
// streams: the "REDIS" and version header, the EOF opcode (0xff) and the CRC-64 of all
// that precedes the 8-byte trailer, which is what Redis itself checks when it loads the
// file. It costs one CRC pass over the bytes in passing, where redis-check-rdb would read
// the written file again and parse every key.
//
// `redis-cli --rdb -` (7.0) leaves the 40-character mark that ends a diskless transfer
// after the trailer, which Redis's load ignores; so the trailer is either the last 8 bytes,
// or the 8 before such a mark.
type rdbChecker struct {
	w     io.Writer
	crc   uint64 // crc64.Update's state: the complement of Redis's CRC so far
	head  []byte // the first bytes, up to the header's length
	tail  []byte // the last rdbTailSize bytes seen, not yet in crc
	last  byte   // the last byte in crc
	total int64
}

const (
	// rdbHeaderSize is "REDIS" and four version digits.
	rdbHeaderSize = 9
	// rdbMarkSize is the length of the mark after a diskless transfer's snapshot.
	rdbMarkSize = 40
	rdbTailSize = 8 + rdbMarkSize
)

func newRDBChecker(w io.Writer) *rdbChecker {
	return &rdbChecker{w: w, crc: ^uint64(0), head: make([]byte, 0, rdbHeaderSize), tail: make([]byte, 0, 2*rdbTailSize)}
}

func (c *rdbChecker) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	p = p[:n]
	c.total += int64(n)
	if room := rdbHeaderSize - len(c.head); room > 0 {
		c.head = append(c.head, p[:min(room, len(p))]...)
	}
	if len(p) >= rdbTailSize {
		c.sum(c.tail)
		c.sum(p[:len(p)-rdbTailSize])
		c.tail = append(c.tail[:0], p[len(p)-rdbTailSize:]...)
	} else {
		c.tail = append(c.tail, p...)
		if extra := len(c.tail) - rdbTailSize; extra > 0 {
			c.sum(c.tail[:extra])
			c.tail = append(c.tail[:0], c.tail[extra:]...)
		}
	}
	return n, err
}

func (c *rdbChecker) sum(b []byte) {
	if len(b) > 0 {
		c.crc = crc64.Update(c.crc, rdbCRC, b)
		c.last = b[len(b)-1]
	}
}

// check tells whether what was written is a whole snapshot.
func (c *rdbChecker) check() error {
	if len(c.head) < rdbHeaderSize || !bytes.HasPrefix(c.head, []byte("REDIS")) {
		return fmt.Errorf("it does not start as an RDB snapshot (%q)", c.head)
	}
	if c.total < rdbHeaderSize+1+8 {
		return errors.New("it is cut short")
	}
	// The trailer at the end: all but the tail's last 8 bytes are in the CRC.
	body := c.tail[:len(c.tail)-8]
	crc, last := c.crc, c.last
	if len(body) > 0 {
		crc, last = crc64.Update(crc, rdbCRC, body), body[len(body)-1]
	}
	err := checkTrailer(^crc, last, c.tail[len(c.tail)-8:])
	if err != nil && int64(len(c.tail)) == rdbTailSize && c.total >= rdbHeaderSize+1+rdbTailSize && isMark(c.tail[8:]) {
		// The trailer before a transfer's mark: the CRC covers all but the tail.
		err = checkTrailer(^c.crc, c.last, c.tail[:8])
	}
	return err
}

// checkTrailer checks the EOF opcode and the CRC-64 trailer of a snapshot whose CRC is crc.
func checkTrailer(crc uint64, last byte, trailer []byte) error {
	if last != 0xff {
		return errors.New("it does not end with the snapshot's EOF mark: it is cut short")
	}
	want := binary.LittleEndian.Uint64(trailer)
	if want == 0 {
		return errRDBUnchecked
	}
	if crc != want {
		return fmt.Errorf("its CRC-64 is %016x, its trailer says %016x", crc, want)
	}
	return nil
}

// isMark tells whether b can be a diskless transfer's end mark: hexadecimal characters.
func isMark(b []byte) bool {
	for _, x := range b {
		if !('0' <= x && x <= '9' || 'a' <= x && x <= 'f') {
			return false
		}
	}
	return true
}
