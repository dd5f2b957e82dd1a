package guestagent

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// EnsureSecret returns the password of the engine account the agent connects as, kept in
// path, making it the first time: 32 random bytes, base64url (no character any engine's
// quoting minds), in a file only the agent can read. It is never made again once it exists,
// since the engine holds its verifier.
func EnsureSecret(path string) (string, error) {
	password, err := ReadSecret(path)
	if err == nil {
		return password, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make the agent's password: %w", err)
	}
	password = base64.RawURLEncoding.EncodeToString(b)
	if err := WriteFileSync(path, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the agent's password: %w", err)
	}
	return password, nil
}

// ReadSecret reads the password EnsureSecret made; an empty file counts as missing (a crash
// while it was written).
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the agent's password: %w", err)
	}
	password := strings.TrimSpace(string(b))
	if password == "" {
		return "", fmt.Errorf("read the agent's password: %s is empty: %w", path, fs.ErrNotExist)
	}
	return password, nil
}

// WriteFileSync replaces path with data durably: a crash leaves the old file or the new one.
func WriteFileSync(path string, data []byte, mode fs.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
