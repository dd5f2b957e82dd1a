package pgcluster_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/pgcluster/pgclustertest"
)

func TestClusterStartsAcceptsPasswordLoginAndStops(t *testing.T) {
	c := pgclustertest.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgclustertest.DSN(c, "postgres"))
	if err != nil {
		t.Fatalf("connect over TCP with the password: %v", err)
	}
	var method string
	if err := conn.QueryRow(ctx, "SHOW password_encryption").Scan(&method); err != nil || method != "scram-sha-256" {
		t.Fatalf("got password_encryption %q (err %v), want scram-sha-256", method, err)
	}
	conn.Close(ctx)

	bad := "postgres://" + pgclustertest.Superuser + ":wrong@" + c.Host + ":" + strconv.Itoa(c.Port) + "/postgres?sslmode=disable"
	if conn, err := pgx.Connect(ctx, bad); err == nil {
		conn.Close(ctx)
		t.Fatal("connected with a wrong password, want refusal")
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Fatal("cluster still running after Stop")
	}
	if err := c.Start(ctx, nil); err != nil {
		t.Fatalf("start again: %v", err)
	}
	if !c.Running() {
		t.Fatal("cluster not running after a second Start")
	}
}
