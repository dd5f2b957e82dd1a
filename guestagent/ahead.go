package guestagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// AheadMaker is a Driver that can make the engine's empty data folder before the first
// Prepare asks for it: the agent runs MakeAhead once at boot, alongside its enrolment, its
// dial of the gateway and the control plane's last steps of the create, so that Prepare
// finds the slowest part of its work (initdb, mariadb-install-db) done or under way.
//
// MakeAhead makes it in a staging folder of its own (see Ahead), never where a data folder
// is looked for: a restore or a replica's seed, which make the data folder otherwise, are
// not disturbed by it, and Prepare adopts it only when it was made whole. It does nothing
// when the volume holds the engine's data already, or Prepare came first.
//
// It reports whether it made one.
type AheadMaker interface {
	MakeAhead(ctx context.Context) (bool, error)
}

// Ahead is a driver's data folder made ahead of the first Prepare, in the staging folder
// Dir: Claim then Fill make it (once per agent), Take waits for that to end and says
// whether it is whole, Discard stops and removes it. The zero value with Dir set is ready.
//
// A driver calls Claim and Take under its own lifecycle lock, and Fill without it.
type Ahead struct {
	// Dir is the staging folder; Dir+".whole" marks it made whole.
	Dir string

	mu      sync.Mutex
	claimed bool // Claim said yes, or Take or Discard came first
	done    chan struct{}
	cancel  context.CancelFunc
}

// Claim reports whether the caller may Fill: only the first caller, and only when neither
// Take nor Discard came before.
func (a *Ahead) Claim() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.claimed {
		return false
	}
	a.claimed = true
	a.done = make(chan struct{})
	return true
}

// Fill, after Claim said yes, removes the leftovers of an earlier try, runs fill (which
// makes the data folder in Dir) and marks Dir whole when it succeeds. Discard cancels it.
// A Dir made whole already (before the agent restarted) is kept as it is.
func (a *Ahead) Fill(ctx context.Context, fill func(ctx context.Context) error) error {
	a.mu.Lock()
	done := a.done
	ctx, a.cancel = context.WithCancel(ctx)
	cancel := a.cancel
	a.mu.Unlock()
	defer close(done)
	defer cancel()
	if _, err := os.Stat(a.Dir + ".whole"); err == nil {
		// Made whole before the agent restarted: Prepare takes that one.
		return nil
	}
	if err := a.remove(); err != nil {
		return err
	}
	if err := fill(ctx); err != nil {
		_ = a.remove()
		return fmt.Errorf("make the data folder ahead: %w", err)
	}
	// The mark goes down only once the folder is whole: a crash before leaves a folder
	// that Take does not adopt and the next try removes.
	if err := WriteFileSync(a.Dir+".whole", nil, 0o600); err != nil {
		_ = a.remove()
		return err
	}
	return nil
}

// Take waits for a Fill under way to end (or ctx), and reports whether Dir holds a whole
// data folder, made now or before a reboot. No Fill starts after it.
func (a *Ahead) Take(ctx context.Context) (bool, error) {
	if err := a.wait(ctx, false); err != nil {
		return false, err
	}
	_, err := os.Stat(a.Dir + ".whole")
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Adopted says that Dir was moved into place: its mark goes.
func (a *Ahead) Adopted() error {
	if err := os.Remove(a.Dir + ".whole"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the made-ahead data folder's mark: %w", err)
	}
	return nil
}

// Discard stops a Fill under way and removes what it made, for a data folder that came
// otherwise (a restore, a replica's seed) or exists already. No Fill starts after it.
func (a *Ahead) Discard(ctx context.Context) error {
	if err := a.wait(ctx, true); err != nil {
		return err
	}
	return a.remove()
}

// wait keeps any Fill from starting, and waits for one under way to end (canceled first
// when stop is set).
func (a *Ahead) wait(ctx context.Context, stop bool) error {
	a.mu.Lock()
	a.claimed = true
	done, cancel := a.done, a.cancel
	a.mu.Unlock()
	if done == nil {
		return nil
	}
	if stop && cancel != nil {
		cancel()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// remove removes the mark, then the folder.
func (a *Ahead) remove() error {
	if err := a.Adopted(); err != nil {
		return err
	}
	if err := os.RemoveAll(a.Dir); err != nil {
		return fmt.Errorf("remove the made-ahead data folder: %w", err)
	}
	return nil
}
