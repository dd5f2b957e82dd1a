package postgres

import (
	"errors"
	"slices"
	"testing"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

func TestConfigurationGroupAppliesLiveOrAtRestart(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(newVolume(t), 512)
	d := newTestDriver(t, inst)
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: "postgresql", Version: "15"}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	sizedWorkMem := show(ctx, t, d, "work_mem")

	// A dynamic setting takes effect in the next session, with no restart.
	pending, err := d.ApplyConfiguration(ctx, map[string]string{"work_mem": "8192"})
	if err != nil || len(pending) != 0 {
		t.Fatalf("apply work_mem: got %v, %v; want nothing pending", pending, err)
	}
	if got := show(ctx, t, d, "work_mem"); got != "8MB" {
		t.Errorf("work_mem after apply: got %s, want 8MB", got)
	}

	// A postmaster setting waits for the next start; the dynamic one stays.
	pending, err = d.ApplyConfiguration(ctx, map[string]string{"work_mem": "8192", "max_connections": "50"})
	if err != nil || !slices.Equal(pending, []string{"max_connections"}) {
		t.Fatalf("apply max_connections: got %v, %v; want max_connections pending", pending, err)
	}
	if got := show(ctx, t, d, "max_connections"); got != "100" {
		t.Errorf("max_connections before the restart: got %s, want 100", got)
	}
	// A bad value is refused and changes nothing.
	_, err = d.ApplyConfiguration(ctx, map[string]string{"work_mem": "lots"})
	if !errors.Is(err, guestagent.ErrInvalid) {
		t.Errorf("apply a bad work_mem: got %v, want ErrInvalid", err)
	}
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := show(ctx, t, d, "max_connections"); got != "50" {
		t.Errorf("max_connections after the restart: got %s, want 50", got)
	}
	if got := show(ctx, t, d, "work_mem"); got != "8MB" {
		t.Errorf("work_mem after the restart: got %s, want 8MB (the bad value must not have been kept)", got)
	}
	effective, err := d.Configuration(ctx)
	if err != nil || effective["work_mem"] != "8MB" || effective["max_connections"] != "50" || effective["shared_buffers"] != "128MB" {
		t.Errorf("Configuration: got %v, %v; want the group's values and the sized shared_buffers", effective, err)
	}

	// Detaching goes back to the flavor's settings: work_mem at once, max_connections at
	// the next start.
	pending, err = d.ApplyConfiguration(ctx, nil)
	if err != nil || !slices.Equal(pending, []string{"max_connections"}) {
		t.Fatalf("detach: got %v, %v; want max_connections pending", pending, err)
	}
	if got := show(ctx, t, d, "work_mem"); got != sizedWorkMem {
		t.Errorf("work_mem after detach: got %s, want the flavor's %s", got, sizedWorkMem)
	}
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := show(ctx, t, d, "max_connections"); got != "100" {
		t.Errorf("max_connections after detach and restart: got %s, want 100", got)
	}
}

func TestConfigurationGroupOnPrepareAndResize(t *testing.T) {
	ctx := testContext(t)
	volume := newVolume(t)
	inst := newInstance(volume, 512)
	d := newTestDriver(t, inst)
	in := guest.PrepareInput{Datastore: "postgresql", Version: "15", Configuration: map[string]string{"effective_cache_size": "131072"}}
	if err := d.Prepare(ctx, in); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if got := show(ctx, t, d, "effective_cache_size"); got != "1GB" {
		t.Errorf("effective_cache_size after prepare: got %s, want the group's 1GB", got)
	}
	// A resize re-sizes what the group does not set, and keeps what it sets.
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	resized := inst
	resized.RAMMB = 1024
	d2 := newTestDriver(t, resized)
	if err := d2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := show(ctx, t, d2, "shared_buffers"); got != "256MB" {
		t.Errorf("shared_buffers after resize: got %s, want 256MB", got)
	}
	if got := show(ctx, t, d2, "effective_cache_size"); got != "1GB" {
		t.Errorf("effective_cache_size after resize: got %s, want the group's 1GB", got)
	}
}

func TestConfigurationRefusesSettingsCofferOwns(t *testing.T) {
	for _, values := range []map[string]string{
		{"wal_log_hints": "off"},
		{"work_mem": "1\n2"},
		{"bad name": "1"},
	} {
		if err := validateValues(values); !errors.Is(err, guestagent.ErrInvalid) {
			t.Errorf("validateValues(%q): got %v, want ErrInvalid", values, err)
		}
	}
}
