package guestagent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Marks is a folder (the instance's volume) where a driver keeps its engine's replication
// state as files: a replica, a fenced engine, a primary whose writes a switchover stopped.
// They live on the volume, so every later start (a reboot, a resize) finds them.
type Marks string

// Has reports whether the mark name is set.
func (m Marks) Has(name string) bool {
	_, err := os.Stat(filepath.Join(string(m), name))
	return err == nil
}

// Set sets the mark name, with content (none for a plain mark), synced to disk.
func (m Marks) Set(name string, content ...byte) error {
	return WriteFileSync(filepath.Join(string(m), name), content, 0o600)
}

// Read returns the content of the mark name (ErrNotExist when it is not set).
func (m Marks) Read(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(m), name))
}

// Clear removes the mark name; a mark not set is no error.
func (m Marks) Clear(name string) error {
	if err := os.Remove(filepath.Join(string(m), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ValidSlot checks a replica's slot name (guest.ReplicationSlot) for engines that keep
// nothing per replica: it must still be one.
func ValidSlot(slot string) error {
	if slot == "" || len(slot) > 63 {
		return fmt.Errorf("slot %q: %w: 1 to 63 characters", slot, ErrInvalid)
	}
	for _, r := range slot {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("slot %q: %w: only a-z, 0-9 and _", slot, ErrInvalid)
		}
	}
	return nil
}

// Path is the file of the mark (or secret) name.
func (m Marks) Path(name string) string { return filepath.Join(string(m), name) }
