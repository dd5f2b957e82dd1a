package guestagent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestAheadFillThenTake(t *testing.T) {
	a := &Ahead{Dir: filepath.Join(t.TempDir(), "data.ahead")}
	if !a.Claim() {
		t.Fatal("the first Claim was refused")
	}
	if a.Claim() {
		t.Fatal("a second Claim was granted")
	}
	err := a.Fill(context.Background(), func(context.Context) error {
		return os.WriteFile(filepath.Join(a.Dir, "PG_VERSION"), []byte("15\n"), 0o600)
	})
	if err == nil {
		t.Fatal("Fill succeeded though fill could not write (no folder)")
	}
	if _, err := os.Stat(a.Dir + ".whole"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed Fill left its mark: %v", err)
	}

	b := &Ahead{Dir: a.Dir}
	b.Claim()
	if err := b.Fill(context.Background(), func(context.Context) error {
		if err := os.Mkdir(b.Dir, 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.Dir, "PG_VERSION"), []byte("15\n"), 0o600)
	}); err != nil {
		t.Fatal(err)
	}
	made, err := b.Take(context.Background())
	if err != nil || !made {
		t.Fatalf("Take = %v, %v; want a whole folder", made, err)
	}
	if err := b.Adopted(); err != nil {
		t.Fatal(err)
	}
	if made, _ := b.Take(context.Background()); made {
		t.Fatal("Take still saw a whole folder once it was adopted")
	}
}

func TestAheadTakeFirstKeepsFillOff(t *testing.T) {
	a := &Ahead{Dir: filepath.Join(t.TempDir(), "data.ahead")}
	if made, err := a.Take(context.Background()); made || err != nil {
		t.Fatalf("Take with nothing made = %v, %v", made, err)
	}
	if a.Claim() {
		t.Fatal("Claim was granted after Take: a Fill would race Prepare's own init")
	}
}

func TestAheadDiscardStopsFill(t *testing.T) {
	a := &Ahead{Dir: filepath.Join(t.TempDir(), "data.ahead")}
	a.Claim()
	started := make(chan struct{})
	filled := make(chan error, 1)
	go func() {
		filled <- a.Fill(context.Background(), func(ctx context.Context) error {
			if err := os.Mkdir(a.Dir, 0o700); err != nil {
				return err
			}
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	<-started
	if err := a.Discard(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-filled; !errors.Is(err, context.Canceled) {
		t.Fatalf("Fill = %v, want it canceled", err)
	}
	if _, err := os.Stat(a.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Discard left the folder: %v", err)
	}
}

func TestAheadKeepsAWholeFolderAcrossRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data.ahead")
	first := &Ahead{Dir: dir}
	first.Claim()
	if err := first.Fill(context.Background(), func(context.Context) error { return os.Mkdir(dir, 0o700) }); err != nil {
		t.Fatal(err)
	}
	// The agent restarts before Prepare: the next boot's Fill keeps what is whole.
	again := &Ahead{Dir: dir}
	again.Claim()
	if err := again.Fill(context.Background(), func(context.Context) error { return errors.New("filled again") }); err != nil {
		t.Fatalf("Fill of a whole folder: %v", err)
	}
	if made, err := again.Take(context.Background()); !made || err != nil {
		t.Fatalf("Take = %v, %v; want the whole folder", made, err)
	}
}
