package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/go-sql-driver/mysql"
)

// systemUsers are MariaDB's own accounts; no tenant request may name one.
var systemUsers = []string{"mariadb.sys", "mysql", replicationUser}

func hostOrDefault(host string) string {
	if host == "" {
		return guest.DefaultHost
	}
	return host
}

func validateUserName(name string) error {
	if err := coffer.ValidUserName(name); err != nil {
		return fmt.Errorf("user: %w: %w", guestagent.ErrInvalid, err)
	}
	if slices.Contains(systemUsers, strings.ToLower(name)) {
		return fmt.Errorf("user: %w: %s is a reserved name", guestagent.ErrInvalid, name)
	}
	return nil
}

func validateRef(u guest.UserRef) error {
	if err := validateUserName(u.Name); err != nil {
		return err
	}
	if err := coffer.ValidHost(u.Host); err != nil {
		return fmt.Errorf("user %s: %w: %w", u.Name, guestagent.ErrInvalid, err)
	}
	return nil
}

func validateUser(u coffer.User) error {
	if err := validateRef(guest.UserRef{Name: u.Name, Host: u.Host}); err != nil {
		return err
	}
	if err := coffer.ValidPassword(u.Password, coffer.MinPasswordLength); err != nil {
		return fmt.Errorf("user %s: %w: %w", u.Name, guestagent.ErrInvalid, err)
	}
	for _, db := range u.Databases {
		if err := validateName("database", db); err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	return nil
}

// CreateUsers makes each user@host with its password (or sets the password again when the
// account exists, so a retry converges), then grants it all rights on its databases, which
// must exist. The client quotes the password (connect), and the statements never reach a
// log: the general log is off, and errors are reported without their statement.
func (d *Driver) CreateUsers(ctx context.Context, users []coffer.User) error {
	for _, u := range users {
		if err := validateUser(u); err != nil {
			return err
		}
	}
	if len(users) == 0 {
		return nil
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, u := range users {
		for _, db := range u.Databases {
			exists, err := databaseExists(ctx, conn, db)
			if err != nil {
				return err
			}
			if !exists {
				return fmt.Errorf("user %s: %w: database %s does not exist", u.Name, guestagent.ErrInvalid, db)
			}
		}
		host := hostOrDefault(u.Host)
		if _, err := conn.ExecContext(ctx, "CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", u.Name, host, u.Password); err != nil {
			return fmt.Errorf("create user %s@%s: %w", u.Name, host, classify(err))
		}
		if _, err := conn.ExecContext(ctx, "ALTER USER ?@? IDENTIFIED BY ?", u.Name, host, u.Password); err != nil {
			return fmt.Errorf("set the password of user %s@%s: %w", u.Name, host, classify(err))
		}
		if err := grant(ctx, conn, u.Name, host, u.Databases); err != nil {
			return err
		}
	}
	return nil
}

// grant gives user@host all rights on each database (none of the server-wide ones).
func grant(ctx context.Context, conn *sql.DB, name, host string, dbs []string) error {
	for _, db := range dbs {
		if _, err := conn.ExecContext(ctx, "GRANT ALL PRIVILEGES ON "+quoteName(db)+".* TO ?@?", name, host); err != nil {
			return fmt.Errorf("grant database %s to user %s@%s: %w", db, name, host, classify(err))
		}
	}
	return nil
}

// userExists reports whether the tenant's account name@host exists.
func userExists(ctx context.Context, conn *sql.DB, name, host string) (bool, error) {
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", name, host).Scan(&n); err != nil {
		return false, fmt.Errorf("look up user %s@%s: %w", name, host, err)
	}
	return n > 0, nil
}

// ListUsers lists the tenant's accounts (not root, the agent's or MariaDB's own), sorted.
func (d *Driver) ListUsers(ctx context.Context) ([]guest.UserInfo, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, "SELECT User, Host FROM mysql.user WHERE User NOT IN (?, ?, ?, ?, ?, '') ORDER BY User, Host",
		guest.RootUser, agentUser, systemUsers[0], systemUsers[1], systemUsers[2])
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var users []guest.UserInfo
	for rows.Next() {
		var u guest.UserInfo
		if err := rows.Scan(&u.Name, &u.Host); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := []guest.UserInfo{}
	for _, u := range users {
		if u.Databases, err = listAccess(ctx, conn, u.Name, u.Host); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// GetUser shows one user; a host other than the user's is ErrNotFound.
func (d *Driver) GetUser(ctx context.Context, ref guest.UserRef) (guest.UserInfo, error) {
	if err := validateRef(ref); err != nil {
		return guest.UserInfo{}, err
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return guest.UserInfo{}, err
	}
	defer conn.Close()
	host := hostOrDefault(ref.Host)
	if err := mustExist(ctx, conn, ref.Name, host); err != nil {
		return guest.UserInfo{}, err
	}
	dbs, err := listAccess(ctx, conn, ref.Name, host)
	if err != nil {
		return guest.UserInfo{}, err
	}
	return guest.UserInfo{Name: ref.Name, Host: host, Databases: dbs}, nil
}

func mustExist(ctx context.Context, conn *sql.DB, name, host string) error {
	exists, err := userExists(ctx, conn, name, host)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("user %s@%s: %w", name, host, guestagent.ErrNotFound)
	}
	return nil
}

// UpdateUser renames a user, or sets its password or host; its grants follow it.
func (d *Driver) UpdateUser(ctx context.Context, in guest.UpdateUserInput) error {
	if err := validateRef(in.UserRef); err != nil {
		return err
	}
	newRef := guest.UserRef{Name: in.Name, Host: hostOrDefault(in.Host)}
	if in.NewName != "" {
		newRef.Name = in.NewName
	}
	if in.NewHost != "" {
		newRef.Host = in.NewHost
	}
	if err := validateRef(newRef); err != nil {
		return err
	}
	if in.Password != "" {
		if err := coffer.ValidPassword(in.Password, coffer.MinPasswordLength); err != nil {
			return fmt.Errorf("user %s: %w: %w", in.Name, guestagent.ErrInvalid, err)
		}
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	host := hostOrDefault(in.Host)
	oldExists, err := userExists(ctx, conn, in.Name, host)
	if err != nil {
		return err
	}
	moved := newRef.Name != in.Name || newRef.Host != host
	if oldExists && moved {
		newExists, err := userExists(ctx, conn, newRef.Name, newRef.Host)
		if err != nil {
			return err
		}
		if newExists {
			return fmt.Errorf("user %s@%s: %w", newRef.Name, newRef.Host, guestagent.ErrExists)
		}
		if _, err := conn.ExecContext(ctx, "RENAME USER ?@? TO ?@?", in.Name, host, newRef.Name, newRef.Host); err != nil {
			return fmt.Errorf("rename user %s@%s: %w", in.Name, host, classify(err))
		}
	} else if !oldExists {
		// A retry after the rename finds the account under its new name.
		if err := mustExist(ctx, conn, newRef.Name, newRef.Host); err != nil {
			return fmt.Errorf("user %s@%s: %w", in.Name, host, guestagent.ErrNotFound)
		}
	}
	if in.Password != "" {
		if _, err := conn.ExecContext(ctx, "ALTER USER ?@? IDENTIFIED BY ?", newRef.Name, newRef.Host, in.Password); err != nil {
			return fmt.Errorf("set the password of user %s@%s: %w", newRef.Name, newRef.Host, classify(err))
		}
	}
	return nil
}

// DeleteUser drops a user and its grants; what it made stays in its databases.
func (d *Driver) DeleteUser(ctx context.Context, ref guest.UserRef) error {
	if err := validateRef(ref); err != nil {
		return err
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	host := hostOrDefault(ref.Host)
	if err := mustExist(ctx, conn, ref.Name, host); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "DROP USER IF EXISTS ?@?", ref.Name, host); err != nil {
		return fmt.Errorf("drop user %s@%s: %w", ref.Name, host, classify(err))
	}
	return nil
}

// ChangePasswords sets the passwords of existing users; none changes when one is missing.
func (d *Driver) ChangePasswords(ctx context.Context, users []coffer.User) error {
	for _, u := range users {
		if err := validateRef(guest.UserRef{Name: u.Name, Host: u.Host}); err != nil {
			return err
		}
		if err := coffer.ValidPassword(u.Password, coffer.MinPasswordLength); err != nil {
			return fmt.Errorf("user %s: %w: %w", u.Name, guestagent.ErrInvalid, err)
		}
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, u := range users {
		if err := mustExist(ctx, conn, u.Name, hostOrDefault(u.Host)); err != nil {
			return err
		}
	}
	for _, u := range users {
		host := hostOrDefault(u.Host)
		if _, err := conn.ExecContext(ctx, "ALTER USER ?@? IDENTIFIED BY ?", u.Name, host, u.Password); err != nil {
			return fmt.Errorf("set the password of user %s@%s: %w", u.Name, host, classify(err))
		}
	}
	return nil
}

// GrantAccess gives the user all rights on each database, which must exist.
func (d *Driver) GrantAccess(ctx context.Context, in guest.AccessInput) error {
	conn, host, err := d.accessSession(ctx, in)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, db := range in.Databases {
		exists, err := databaseExists(ctx, conn, db)
		if err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("database %s: %w", db, guestagent.ErrNotFound)
		}
	}
	return grant(ctx, conn, in.Name, host, in.Databases)
}

// RevokeAccess takes the user's rights on each database away; a database it had no rights
// on is no error.
func (d *Driver) RevokeAccess(ctx context.Context, in guest.AccessInput) error {
	conn, host, err := d.accessSession(ctx, in)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, db := range in.Databases {
		_, err := conn.ExecContext(ctx, "REVOKE ALL PRIVILEGES ON "+quoteName(db)+".* FROM ?@?", in.Name, host)
		if err != nil && !isNoGrant(err) {
			return fmt.Errorf("revoke database %s from user %s@%s: %w", db, in.Name, host, classify(err))
		}
	}
	return nil
}

// ListAccess lists the databases the user has rights on, sorted.
func (d *Driver) ListAccess(ctx context.Context, ref guest.UserRef) ([]string, error) {
	if err := validateRef(ref); err != nil {
		return nil, err
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	host := hostOrDefault(ref.Host)
	if err := mustExist(ctx, conn, ref.Name, host); err != nil {
		return nil, err
	}
	return listAccess(ctx, conn, ref.Name, host)
}

func (d *Driver) accessSession(ctx context.Context, in guest.AccessInput) (*sql.DB, string, error) {
	if err := validateRef(in.UserRef); err != nil {
		return nil, "", err
	}
	for _, db := range in.Databases {
		if err := validateName("database", db); err != nil {
			return nil, "", err
		}
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, "", err
	}
	host := hostOrDefault(in.Host)
	if err := mustExist(ctx, conn, in.Name, host); err != nil {
		conn.Close()
		return nil, "", err
	}
	return conn, host, nil
}

func listAccess(ctx context.Context, conn *sql.DB, name, host string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT Db FROM mysql.db WHERE User = ? AND Host = ? ORDER BY Db", name, host)
	if err != nil {
		return nil, fmt.Errorf("list the databases of user %s@%s: %w", name, host, err)
	}
	defer rows.Close()
	dbs := []string{}
	for rows.Next() {
		var db string
		if err := rows.Scan(&db); err != nil {
			return nil, fmt.Errorf("list the databases of user %s@%s: %w", name, host, err)
		}
		dbs = append(dbs, db)
	}
	return dbs, rows.Err()
}

// isNoGrant reports MariaDB's "there is no such grant" (1141), which a revoke of rights the
// user never had answers.
func isNoGrant(err error) bool {
	var my *mysql.MySQLError
	return errors.As(err, &my) && my.Number == 1141
}
