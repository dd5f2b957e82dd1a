package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/coffer-dbaas/coffer/pgcluster"
)

// Datastore is the datastore name this driver serves.
const Datastore = "postgresql"

// Prepare validates the whole request first, then makes the cluster if the volume has none,
// starts it with the flavor's settings, and creates the databases and then the users.
func (d *Driver) Prepare(ctx context.Context, in guest.PrepareInput) error {
	if in.Datastore != "" && in.Datastore != Datastore {
		return fmt.Errorf("prepare: datastore %q: %w: this is a %s instance", in.Datastore, guestagent.ErrInvalid, Datastore)
	}
	for _, db := range in.Databases {
		if err := validateDatabase(db); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	for _, u := range in.Users {
		if err := validateUser(u); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	if in.Configuration != nil {
		if err := validateValues(in.Configuration); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		if err := d.saveValues(in.Configuration); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	if err := d.initAndStart(ctx); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if err := d.CreateDatabases(ctx, in.Databases); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if err := d.CreateUsers(ctx, in.Users); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

func (d *Driver) initAndStart(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.cluster.Initialized() {
		if err := d.initCluster(ctx); err != nil {
			return err
		}
	} else if err := d.ahead.Discard(ctx); err != nil {
		// The cluster came otherwise (a restore): the one made at boot is not needed.
		return err
	}
	if err := d.start(ctx); err != nil {
		return err
	}
	return d.confineOnStart(ctx)
}

// Start starts a cluster that Prepare made before; see guestagent.Driver. On a primary it
// then confines the tenant's roles (see confine), so that a root an older agent made
// superuser is demoted at the next start.
func (d *Driver) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.cluster.Initialized() {
		return nil
	}
	// A cluster made ahead that a restore or a seed made needless, left by a crash.
	if err := d.ahead.Discard(ctx); err != nil {
		return err
	}
	if err := d.start(ctx); err != nil {
		return err
	}
	return d.confineOnStart(ctx)
}

// start starts the cluster with the flavor's settings and the configuration group's values
// (writeConf). A cluster that runs already (it outlived the agent, or the server was
// resized under it) reloads them, and restarts when one of them needs a restart.
func (d *Driver) start(ctx context.Context) error {
	values, err := d.readValues()
	if err != nil {
		return err
	}
	if values, err = d.confValues(ctx, values); err != nil {
		return err
	}
	if err := d.writeConf(values); err != nil {
		return err
	}
	if d.cluster.Running() {
		_, pending, err := d.checkConf(ctx, values)
		if err != nil {
			return fmt.Errorf("check the running server's settings: %w", err)
		}
		if len(pending) == 0 {
			return d.reload(ctx)
		}
		if err := d.cluster.Stop(ctx); err != nil {
			return err
		}
	}
	if err := d.cluster.Start(ctx, fixedSettings()); err != nil {
		return err
	}
	return d.cluster.WaitReady(ctx)
}

// MakeAhead runs initdb at the agent's boot, before Prepare asks for a cluster, into the
// staging folder d.ahead (see guestagent.AheadMaker), which initCluster adopts. The agent's
// password is made first, under d.mu, as Prepare would make it.
func (d *Driver) MakeAhead(ctx context.Context) (bool, error) {
	d.mu.Lock()
	if d.cluster.Initialized() || !d.ahead.Claim() {
		d.mu.Unlock()
		return false, nil
	}
	password, err := d.ensureSecret()
	d.mu.Unlock()
	return true, d.ahead.Fill(ctx, func(ctx context.Context) error {
		if err != nil {
			return err
		}
		staging := *d.cluster
		staging.DataDir = d.ahead.Dir
		return staging.Init(ctx, pgcluster.InitOptions{Superuser: agentRole, Password: password})
	})
}

// initCluster moves the cluster MakeAhead made into place, when it made one whole; else it
// runs initdb into a staging folder and renames it into place, so that an initdb cut short
// (a crash, a reboot) leaves no half-made cluster that looks initialized.
func (d *Driver) initCluster(ctx context.Context) error {
	made, err := d.ahead.Take(ctx)
	if err != nil {
		return err
	}
	if made {
		if err := os.Rename(d.ahead.Dir, d.cluster.DataDir); err != nil {
			return fmt.Errorf("move the cluster made at boot into place: %w", err)
		}
		return d.ahead.Adopted()
	}
	password, err := d.ensureSecret()
	if err != nil {
		return err
	}
	staging := *d.cluster
	staging.DataDir = d.cluster.DataDir + ".init"
	if err := os.RemoveAll(staging.DataDir); err != nil {
		return fmt.Errorf("remove the leftovers of an earlier initdb: %w", err)
	}
	if err := staging.Init(ctx, pgcluster.InitOptions{Superuser: agentRole, Password: password}); err != nil {
		return err
	}
	if err := os.Rename(staging.DataDir, d.cluster.DataDir); err != nil {
		return fmt.Errorf("move the new cluster into place: %w", err)
	}
	return nil
}

// ensureSecret returns the agent role's password, making it the first time
// (guestagent.EnsureSecret). It is never regenerated once the cluster exists, since the
// cluster holds its verifier.
func (d *Driver) ensureSecret() (string, error) { return guestagent.EnsureSecret(d.secretFile) }

// writeFileSync replaces path with data durably: a crash leaves the old file or the new one.
func writeFileSync(path string, data []byte, mode fs.FileMode) error {
	return guestagent.WriteFileSync(path, data, mode)
}

// readSecret reads the agent role's password (guestagent.ReadSecret).
func (d *Driver) readSecret() (string, error) { return guestagent.ReadSecret(d.secretFile) }
