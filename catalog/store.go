// Package catalog is Coffer's record of what exists: instances (their task, server and
// service status, the cloud resources they are made of, their last fault), datastores and
// their versions. It is PostgreSQL through pgx; migrations are embedded and applied by
// `coffer migrate` and by coffer-dev. Only this package knows the queries; callers get Go
// types.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned when a row does not exist (or belongs to another project).
var ErrNotFound = errors.New("not found")

// ErrTaskRunning is returned by StartTask when another task holds the instance.
var ErrTaskRunning = errors.New("another operation is running on the instance")

// ErrExists is returned by CreateInstance when an instance with the same ID exists, so that
// a retried create can tell that its first try got through.
var ErrExists = errors.New("already exists")

// Store reads and writes the catalog. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Datastore is a database engine Coffer offers, with its versions.
type Datastore struct {
	ID             string
	Name           string // "postgresql"
	DefaultVersion string // the default version's name
	Versions       []DatastoreVersion
}

// DatastoreVersion is one version of a datastore: the image to boot, the engine's port.
type DatastoreVersion struct {
	ID        string
	Datastore string // "postgresql"
	Name      string // "15"
	ImageTag  string // Glance tag of the image to boot, "coffer-postgresql-15"
	ImageID   string // the image to boot by its Glance ID; empty: the newest tagged ImageTag
	Port      int    // 5432
	Active    bool
}

// Resources are the cloud pieces of an instance and what was last seen of them; empty
// fields are left as they are by UpdateResources.
type Resources struct {
	ServerID        string
	VolumeID        string
	PortID          string
	SecurityGroupID string
	Address         string
	ServerStatus    string
}

// Open connects to the catalog at url (a PostgreSQL connection string) with a pool of at
// most maxConns connections; 0 keeps the URL's pool_max_conns, or pgx's default.
func Open(ctx context.Context, url string, maxConns int) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(min(maxConns, math.MaxInt32))
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		// Every time the catalog hands out is in UTC, whatever the machine's zone.
		conn.TypeMap().RegisterType(&pgtype.Type{
			Name:  "timestamptz",
			OID:   pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close releases the connections.
func (s *Store) Close() { s.pool.Close() }
