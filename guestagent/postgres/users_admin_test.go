package postgres

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
)

func TestTenantManagesDatabasesUsersAndRoot(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(newVolume(t), 512)
	d := newTestDriver(t, inst)
	err := d.Prepare(ctx, guest.PrepareInput{
		Datastore: "postgresql", Version: "15",
		Databases: []coffer.Database{{Name: "app"}, {Name: "reports"}},
		Users: []coffer.User{
			{Name: "alice", Password: "alice-secret", Databases: []string{"app"}},
			{Name: "bob", Password: "bob-secret", Host: "10.0.0.%", Databases: []string{"reports"}},
		},
	})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	canConnect := func(user, password, db string) bool {
		t.Helper()
		conn, err := connectAs(ctx, inst, user, password, db)
		if err != nil {
			return false
		}
		conn.Close(ctx)
		return true
	}

	dbs, err := d.ListDatabases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, db := range dbs {
		names = append(names, db.Name)
	}
	if fmt.Sprint(names) != "[app reports]" {
		t.Fatalf("ListDatabases: got %v, want [app reports] (no system databases)", names)
	}

	users, err := d.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []guest.UserInfo{
		{Name: "alice", Host: "%", Databases: []string{"app"}},
		{Name: "bob", Host: "10.0.0.%", Databases: []string{"reports"}},
	}
	if fmt.Sprint(users) != fmt.Sprint(want) {
		t.Fatalf("ListUsers: got %+v, want %+v", users, want)
	}
	if _, err := d.GetUser(ctx, guest.UserRef{Name: "bob"}); !errors.Is(err, guestagent.ErrNotFound) {
		t.Fatalf("GetUser bob@%%: got %v, want ErrNotFound (bob is bob@10.0.0.%%)", err)
	}

	// Grant, then revoke: access follows.
	if err := d.GrantAccess(ctx, guest.AccessInput{UserRef: guest.UserRef{Name: "alice"}, Databases: []string{"reports"}}); err != nil {
		t.Fatalf("GrantAccess: %v", err)
	}
	if !canConnect("alice", "alice-secret", "reports") {
		t.Fatal("alice cannot connect to reports after the grant")
	}
	access, err := d.ListAccess(ctx, guest.UserRef{Name: "alice"})
	if err != nil || fmt.Sprint(access) != "[app reports]" {
		t.Fatalf("ListAccess: got %v (err %v), want [app reports]", access, err)
	}
	if err := d.RevokeAccess(ctx, guest.AccessInput{UserRef: guest.UserRef{Name: "alice"}, Databases: []string{"reports"}}); err != nil {
		t.Fatalf("RevokeAccess: %v", err)
	}
	if canConnect("alice", "alice-secret", "reports") {
		t.Fatal("alice still connects to reports after the revoke")
	}
	err = d.GrantAccess(ctx, guest.AccessInput{UserRef: guest.UserRef{Name: "alice"}, Databases: []string{"missing"}})
	if !errors.Is(err, guestagent.ErrNotFound) {
		t.Fatalf("grant a missing database: got %v, want ErrNotFound", err)
	}

	// Rename with a new password and host: the old name and password stop working.
	alice, err := connectAs(ctx, inst, "alice", "alice-secret", "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	alice.Close(ctx)
	err = d.UpdateUser(ctx, guest.UpdateUserInput{UserRef: guest.UserRef{Name: "alice"}, NewName: "carol", NewHost: "192.0.2.1", Password: "carol-secret"})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if canConnect("alice", "alice-secret", "app") || !canConnect("carol", "carol-secret", "app") {
		t.Fatal("after the rename, alice still connects or carol does not")
	}
	if u, err := d.GetUser(ctx, guest.UserRef{Name: "carol", Host: "192.0.2.1"}); err != nil || u.Host != "192.0.2.1" {
		t.Fatalf("GetUser carol: got %+v, %v", u, err)
	}
	err = d.UpdateUser(ctx, guest.UpdateUserInput{UserRef: guest.UserRef{Name: "carol", Host: "192.0.2.1"}, NewName: "bob"})
	if !errors.Is(err, guestagent.ErrExists) {
		t.Fatalf("rename onto an existing user: got %v, want ErrExists", err)
	}

	// Password change: all users must exist, or nothing changes.
	err = d.ChangePasswords(ctx, []coffer.User{{Name: "bob", Host: "10.0.0.%", Password: "bob-new"}, {Name: "nobody", Password: "nobody-pw"}})
	if !errors.Is(err, guestagent.ErrNotFound) {
		t.Fatalf("ChangePasswords with a missing user: got %v, want ErrNotFound", err)
	}
	if !canConnect("bob", "bob-secret", "reports") {
		t.Fatal("a failed password change changed bob's password")
	}
	if err := d.ChangePasswords(ctx, []coffer.User{{Name: "bob", Host: "10.0.0.%", Password: "bob-new"}}); err != nil {
		t.Fatal(err)
	}
	if canConnect("bob", "bob-secret", "reports") || !canConnect("bob", "bob-new", "reports") {
		t.Fatal("after the password change the old password works or the new one does not")
	}

	// Deleting a user keeps its data.
	if err := d.DeleteUser(ctx, guest.UserRef{Name: "carol", Host: "192.0.2.1"}); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if canConnect("carol", "carol-secret", "app") {
		t.Fatal("a deleted user connects")
	}
	conn, err := d.connect(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("the deleted user's table: got %d, %v, want 42", v, err)
	}
	conn.Close(ctx)
	if err := d.DeleteUser(ctx, guest.UserRef{Name: "carol"}); !errors.Is(err, guestagent.ErrNotFound) {
		t.Fatalf("delete a missing user: got %v, want ErrNotFound", err)
	}

	// Root: enable gives the master user (not a superuser; see root_test.go), disable takes
	// its login away.
	if on, err := d.RootEnabled(ctx); err != nil || on {
		t.Fatalf("RootEnabled before enable: got %v, %v", on, err)
	}
	if err := d.EnableRoot(ctx, `r00t'"pass`); err != nil {
		t.Fatal(err)
	}
	root, err := connectAs(ctx, inst, "root", `r00t'"pass`, "postgres")
	if err != nil {
		t.Fatalf("root connects: %v", err)
	}
	var super bool
	if err := root.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
		t.Fatalf("root is superuser: got %v, %v, want false", super, err)
	}
	root.Close(ctx)
	if users, _ := d.ListUsers(ctx); slices.ContainsFunc(users, func(u guest.UserInfo) bool { return u.Name == "root" }) {
		t.Fatalf("ListUsers shows root: %+v", users)
	}
	if on, err := d.RootEnabled(ctx); err != nil || !on {
		t.Fatalf("RootEnabled after enable: got %v, %v", on, err)
	}
	if err := d.DisableRoot(ctx); err != nil {
		t.Fatal(err)
	}
	if on, _ := d.RootEnabled(ctx); on || canConnect("root", `r00t'"pass`, "postgres") {
		t.Fatal("root still enabled after disable")
	}

	if err := d.DeleteDatabase(ctx, "reports"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteDatabase(ctx, "reports"); !errors.Is(err, guestagent.ErrNotFound) {
		t.Fatalf("delete a missing database: got %v, want ErrNotFound", err)
	}
}

func TestSystemDatabasesAndRolesAreOutOfReach(t *testing.T) {
	ctx := testContext(t)
	inst := newInstance(newVolume(t), 512)
	d := newTestDriver(t, inst)
	if err := d.Prepare(ctx, guest.PrepareInput{Datastore: "postgresql", Version: "15"}); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"delete postgres":       d.DeleteDatabase(ctx, "postgres"),
		"delete template1":      d.DeleteDatabase(ctx, "template1"),
		"delete injected":       d.DeleteDatabase(ctx, `x"; DROP DATABASE y; --`),
		"delete user agent":     d.DeleteUser(ctx, guest.UserRef{Name: agentRole}),
		"delete user root":      d.DeleteUser(ctx, guest.UserRef{Name: "root"}),
		"update pg_monitor":     d.UpdateUser(ctx, guest.UpdateUserInput{UserRef: guest.UserRef{Name: "pg_monitor"}, Password: "x"}),
		"password of postgres":  d.ChangePasswords(ctx, []coffer.User{{Name: "postgres", Password: "x"}}),
		"create user root":      d.CreateUsers(ctx, []coffer.User{{Name: "root", Password: "x"}}),
		"grant to coffer_agent": d.GrantAccess(ctx, guest.AccessInput{UserRef: guest.UserRef{Name: agentRole}}),
		"bad host":              d.CreateUsers(ctx, []coffer.User{{Name: "eve", Password: "x", Host: "a'b"}}),
		"NUL in a password":     d.CreateUsers(ctx, []coffer.User{{Name: "eve", Password: "long\x00enough"}}),
		"NUL in a new password": d.ChangePasswords(ctx, []coffer.User{{Name: "eve", Password: "\x00"}}),
		"NUL in an update":      d.UpdateUser(ctx, guest.UpdateUserInput{UserRef: guest.UserRef{Name: "eve"}, Password: "a\x00b"}),
		"NUL in root's":         d.EnableRoot(ctx, "root\x00pass"),
		"user pg_x":             d.CreateUsers(ctx, []coffer.User{{Name: "PG_x", Password: "long-enough"}}),
		"charset with SQL":      d.CreateDatabases(ctx, []coffer.Database{{Name: "db", CharacterSet: "UTF8;DROP"}}),
	} {
		if !errors.Is(err, guestagent.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	users, err := d.ListUsers(ctx)
	if err != nil || len(users) != 0 {
		t.Fatalf("ListUsers on a fresh instance: got %+v, %v, want none", users, err)
	}
}
