package redis

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guestagent"
)

// EnableRoot gives Redis's default user (the tenant's: AUTH <password>, requirepass) the
// password and turns it on, as Trove's Redis root enable sets requirepass; the password's
// hash is kept on the volume, so every later start has it. Calling it again sets the new
// password.
func (d *Driver) EnableRoot(ctx context.Context, password string) error {
	if err := coffer.ValidPassword(password, coffer.MinPasswordLength); err != nil {
		return fmt.Errorf("enable root: %w: %w", guestagent.ErrInvalid, err)
	}
	hash := strings.TrimPrefix(passwordHash(password), "#")
	if err := guestagent.WriteFileSync(d.rootFile, []byte(hash+"\n"), 0o600); err != nil {
		return fmt.Errorf("enable root: %w", err)
	}
	return d.applyDefaultUser(ctx, false)
}

// DisableRoot turns the default user off and ends its sessions; no root is no error.
func (d *Driver) DisableRoot(ctx context.Context) error {
	if err := os.Remove(d.rootFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("disable root: %w", err)
	}
	return d.applyDefaultUser(ctx, true)
}

// RootEnabled reports whether the default user can log in.
func (d *Driver) RootEnabled(ctx context.Context) (bool, error) {
	_, err := os.Stat(d.rootFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// applyDefaultUser sets the default user's rules from the volume on the running server
// (with the rest of its role, applyRoles), and writes them into the configuration for the
// next start.
func (d *Driver) applyDefaultUser(ctx context.Context, kill bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	password, err := guestagent.ReadSecret(d.secretFile)
	if err != nil {
		return err
	}
	if err := d.writeConfig(password, sizedMaxmemory(d.ramMB)); err != nil {
		return err
	}
	c, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := d.applyRoles(c); err != nil {
		return err
	}
	if kill {
		if _, err := c.do("CLIENT", "KILL", "USER", "default"); err != nil && !strings.Contains(err.Error(), "No such user") {
			return fmt.Errorf("end the default user's sessions: %w", err)
		}
	}
	return nil
}
