package stack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/pgcluster"
)

// catalogCluster starts (initdb'ing on first use) the PostgreSQL cluster that holds the
// catalog, and returns it with the catalog's connection URL. The superuser's password is
// made once and kept in the folder, so a second run finds the cluster again.
func catalogCluster(ctx context.Context, dir, host string, port int) (*pgcluster.Cluster, string, error) {
	c := &pgcluster.Cluster{
		DataDir:   filepath.Join(dir, "data"),
		SocketDir: filepath.Join(dir, "run"),
		Host:      host,
		Port:      port,
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("catalog folder: %w", err)
	}
	password, err := secretFile(filepath.Join(dir, "superuser.secret"))
	if err != nil {
		return nil, "", err
	}
	const superuser = "coffer"
	if !c.Initialized() {
		if err := c.Init(ctx, pgcluster.InitOptions{Superuser: superuser, Password: password}); err != nil {
			return nil, "", fmt.Errorf("catalog cluster: %w", err)
		}
	}
	if err := c.Start(ctx, map[string]string{"shared_buffers": "64MB", "max_connections": "200"}); err != nil {
		return nil, "", fmt.Errorf("catalog cluster: %w", err)
	}
	admin := (&url.URL{Scheme: "postgres", User: url.UserPassword(superuser, password),
		Host: host + ":" + strconv.Itoa(port), Path: "/postgres", RawQuery: "sslmode=disable"}).String()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, "", fmt.Errorf("connect to the catalog cluster: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE coffer"); err != nil && !strings.Contains(err.Error(), "already exists") {
		return nil, "", fmt.Errorf("create the catalog database: %w", err)
	}
	return c, strings.Replace(admin, "/postgres?", "/coffer?", 1), nil
}

// secretFile returns the secret kept in path, making a random one the first time.
func secretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	s := base64.StdEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}
