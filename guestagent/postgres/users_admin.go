package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestagent"
	"github.com/jackc/pgx/v5"
)

// PostgreSQL does not restrict a role by client host (pg_hba.conf does, for everyone alike).
// Trove's users are name@host, so the agent keeps the host a user was given in the role's
// comment, "host=<host>", and reads it back; no comment is the default host, "%".
const hostCommentPrefix = "host="

// systemRoles are roles a tenant never sees nor changes, besides PostgreSQL's pg_* roles.
var systemRoles = []string{"postgres", agentRole, guest.RootUser}

func hostOrDefault(host string) string {
	if host == "" {
		return guest.DefaultHost
	}
	return host
}

func validateHost(user, host string) error {
	if err := coffer.ValidHost(host); err != nil {
		return fmt.Errorf("user %s: %w: %w", user, guestagent.ErrInvalid, err)
	}
	return nil
}

// validateRoleName checks a user's name with the rules the API checks too
// (coffer.ValidUserName): a valid identifier, not a system role nor a pg_* one.
func validateRoleName(name string) error {
	if err := coffer.ValidUserName(name); err != nil {
		return fmt.Errorf("user: %w: %w", guestagent.ErrInvalid, err)
	}
	return nil
}

// validatePassword checks a user's password with the rules the API checks too: a password
// with a NUL byte, for one, would fail in the engine on every retry.
func validatePassword(user, password string) error {
	if err := coffer.ValidPassword(password, coffer.MinPasswordLength); err != nil {
		return fmt.Errorf("user %s: %w: %w", user, guestagent.ErrInvalid, err)
	}
	return nil
}

// usersQuery lists login roles that are the tenant's, with their host comment and the
// databases granted to them (CONNECT given to the role itself, not through PUBLIC).
const usersQuery = `
	SELECT r.rolname, coalesce(shobj_description(r.oid, 'pg_authid'), ''),
	       array(SELECT d.datname FROM pg_database d, aclexplode(d.datacl) a
	             WHERE a.grantee = r.oid AND a.privilege_type = 'CONNECT'
	               AND NOT d.datistemplate AND d.datname <> ALL($1::text[])
	             ORDER BY d.datname)
	FROM pg_roles r
	WHERE r.rolcanlogin AND r.rolname NOT LIKE 'pg\_%' AND r.rolname <> ALL($2::text[])`

func scanUser(row pgx.CollectableRow) (guest.UserInfo, error) {
	var (
		u       guest.UserInfo
		comment string
	)
	if err := row.Scan(&u.Name, &comment, &u.Databases); err != nil {
		return u, err
	}
	u.Host = guest.DefaultHost
	if h, ok := strings.CutPrefix(comment, hostCommentPrefix); ok && h != "" {
		u.Host = h
	}
	if u.Databases == nil {
		u.Databases = []string{}
	}
	return u, nil
}

// ListUsers lists the tenant's users, sorted by name.
func (d *Driver) ListUsers(ctx context.Context) ([]guest.UserInfo, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, _ := conn.Query(ctx, usersQuery+" ORDER BY r.rolname", systemDatabases, systemRoles)
	users, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// GetUser shows one user; see guestagent.Driver.
func (d *Driver) GetUser(ctx context.Context, user guest.UserRef) (guest.UserInfo, error) {
	if err := validateRoleName(user.Name); err != nil {
		return guest.UserInfo{}, err
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return guest.UserInfo{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return getUser(ctx, conn, user)
}

// getUser finds a tenant's user; ErrNotFound when there is none of that name and host.
func getUser(ctx context.Context, conn *pgx.Conn, user guest.UserRef) (guest.UserInfo, error) {
	rows, _ := conn.Query(ctx, usersQuery+" AND r.rolname = $3", systemDatabases, systemRoles, user.Name)
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && u.Host != hostOrDefault(user.Host) {
		return guest.UserInfo{}, fmt.Errorf("user %s@%s: %w", user.Name, hostOrDefault(user.Host), guestagent.ErrNotFound)
	}
	if err != nil {
		return guest.UserInfo{}, fmt.Errorf("look up user %s: %w", user.Name, err)
	}
	return u, nil
}

// adminSession opens the agent's session on postgres with statement logging off, for
// statements that carry passwords.
func (d *Driver) adminSession(ctx context.Context) (*pgx.Conn, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "SET log_statement = 'none'; SET log_min_error_statement = 'panic'"); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("keep passwords out of the server log: %w", err)
	}
	return conn, nil
}

// execFormatted runs a statement the server builds with format(): identifiers (%I) and
// literals (%L), passwords included, are quoted by PostgreSQL itself.
func execFormatted(ctx context.Context, conn *pgx.Conn, template string, args ...string) error {
	params := []any{template}
	casts := []string{"$1::text"}
	for i, a := range args {
		params = append(params, a)
		casts = append(casts, fmt.Sprintf("$%d::text", i+2))
	}
	var stmt string
	if err := conn.QueryRow(ctx, "SELECT format("+strings.Join(casts, ", ")+")", params...).Scan(&stmt); err != nil {
		return fmt.Errorf("quote statement: %w", err)
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return classify(err)
	}
	return nil
}

// setHost records a user's host in its comment.
func setHost(ctx context.Context, conn *pgx.Conn, name, host string) error {
	return execFormatted(ctx, conn, "COMMENT ON ROLE %I IS %L", name, hostCommentPrefix+hostOrDefault(host))
}

// UpdateUser renames a user, sets its password and its host; see guestagent.Driver.
func (d *Driver) UpdateUser(ctx context.Context, in guest.UpdateUserInput) error {
	if err := validateRoleName(in.Name); err != nil {
		return err
	}
	if in.NewName != "" {
		if err := validateRoleName(in.NewName); err != nil {
			return err
		}
	}
	if err := validateHost(in.Name, in.NewHost); err != nil {
		return err
	}
	if in.Password != "" {
		if err := validatePassword(in.Name, in.Password); err != nil {
			return err
		}
	}
	conn, err := d.adminSession(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := in.Name
	if _, err := getUser(ctx, conn, in.UserRef); err != nil {
		// A retry after a rename that got through finds the user under its new name.
		if !errors.Is(err, guestagent.ErrNotFound) || in.NewName == "" {
			return err
		}
		if _, err2 := getUser(ctx, conn, guest.UserRef{Name: in.NewName, Host: hostOrDefault(in.NewHost)}); err2 != nil {
			return err
		}
		name = in.NewName
	}
	if in.NewName != "" && in.NewName != name {
		if err := execFormatted(ctx, conn, "ALTER ROLE %I RENAME TO %I", name, in.NewName); err != nil {
			if sqlState(err) == "42710" { // duplicate_object
				return fmt.Errorf("rename user %s to %s: %w", name, in.NewName, guestagent.ErrExists)
			}
			return fmt.Errorf("rename user %s to %s: %w", name, in.NewName, err)
		}
		name = in.NewName
	}
	if in.Password != "" {
		if err := execFormatted(ctx, conn, "ALTER ROLE %I WITH LOGIN PASSWORD %L", name, in.Password); err != nil {
			return fmt.Errorf("set the password of user %s: %w", name, err)
		}
	}
	if in.NewHost != "" {
		if err := setHost(ctx, conn, name, in.NewHost); err != nil {
			return fmt.Errorf("set the host of user %s: %w", name, err)
		}
	}
	return nil
}

// DeleteUser drops a user. What it owns in each database passes to the agent's role (the
// tenant's data stays), then its rights are revoked and the role dropped.
func (d *Driver) DeleteUser(ctx context.Context, user guest.UserRef) error {
	if err := validateRoleName(user.Name); err != nil {
		return err
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := getUser(ctx, conn, user); err != nil {
		return err
	}
	rows, _ := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname")
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("delete user %s: list databases: %w", user.Name, err)
	}
	role := pgx.Identifier{user.Name}.Sanitize()
	for _, db := range dbs {
		err := d.inDatabase(ctx, db, "REASSIGN OWNED BY "+role+" TO "+pgx.Identifier{agentRole}.Sanitize()+"; DROP OWNED BY "+role)
		if err != nil {
			return fmt.Errorf("delete user %s: clear what it owns in database %s: %w", user.Name, db, err)
		}
	}
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+role); err != nil {
		return fmt.Errorf("delete user %s: %w", user.Name, classify(err))
	}
	return nil
}

// inDatabase runs sql in a session on db.
func (d *Driver) inDatabase(ctx context.Context, db, sql string) error {
	conn, err := d.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return classify(err)
	}
	return nil
}

// ChangePasswords sets each user's password; all users must exist, or none changes.
func (d *Driver) ChangePasswords(ctx context.Context, users []coffer.User) error {
	for _, u := range users {
		if err := validateRoleName(u.Name); err != nil {
			return err
		}
		if err := validatePassword(u.Name, u.Password); err != nil {
			return err
		}
	}
	conn, err := d.adminSession(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, u := range users {
		if _, err := getUser(ctx, conn, guest.UserRef{Name: u.Name, Host: u.Host}); err != nil {
			return err
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for _, u := range users {
		if err := execFormatted(ctx, tx.Conn(), "ALTER ROLE %I WITH PASSWORD %L", u.Name, u.Password); err != nil {
			return fmt.Errorf("set the password of user %s: %w", u.Name, err)
		}
	}
	return tx.Commit(ctx)
}

// checkAccess checks the user and the databases of a grant or revoke.
func checkAccess(ctx context.Context, conn *pgx.Conn, in guest.AccessInput) error {
	if _, err := getUser(ctx, conn, in.UserRef); err != nil {
		return err
	}
	for _, db := range in.Databases {
		exists, err := databaseExists(ctx, conn, db)
		if err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("database %s: %w", db, guestagent.ErrNotFound)
		}
	}
	return nil
}

func validateAccess(in guest.AccessInput) error {
	if err := validateRoleName(in.Name); err != nil {
		return err
	}
	for _, db := range in.Databases {
		if err := validateName("database", db); err != nil {
			return err
		}
	}
	return nil
}

// GrantAccess gives the user all rights on each database and its public schema.
func (d *Driver) GrantAccess(ctx context.Context, in guest.AccessInput) error {
	if err := validateAccess(in); err != nil {
		return err
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := checkAccess(ctx, conn, in); err != nil {
		return err
	}
	role := pgx.Identifier{in.Name}.Sanitize()
	for _, db := range in.Databases {
		if _, err := conn.Exec(ctx, "GRANT ALL ON DATABASE "+pgx.Identifier{db}.Sanitize()+" TO "+role); err != nil {
			return fmt.Errorf("grant database %s to user %s: %w", db, in.Name, classify(err))
		}
		if err := d.grantSchema(ctx, db, role); err != nil {
			return fmt.Errorf("grant schema public of database %s to user %s: %w", db, in.Name, err)
		}
	}
	return nil
}

// RevokeAccess takes the user's rights on each database and its public schema away, and
// ends the user's sessions there.
func (d *Driver) RevokeAccess(ctx context.Context, in guest.AccessInput) error {
	if err := validateAccess(in); err != nil {
		return err
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := checkAccess(ctx, conn, in); err != nil {
		return err
	}
	role := pgx.Identifier{in.Name}.Sanitize()
	for _, db := range in.Databases {
		if _, err := conn.Exec(ctx, "REVOKE ALL ON DATABASE "+pgx.Identifier{db}.Sanitize()+" FROM "+role); err != nil {
			return fmt.Errorf("revoke database %s from user %s: %w", db, in.Name, classify(err))
		}
		if err := d.inDatabase(ctx, db, "REVOKE ALL ON SCHEMA public FROM "+role); err != nil {
			return fmt.Errorf("revoke schema public of database %s from user %s: %w", db, in.Name, err)
		}
		if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND datname = $2", in.Name, db); err != nil {
			return fmt.Errorf("end the sessions of user %s on database %s: %w", in.Name, db, err)
		}
	}
	return nil
}

// ListAccess lists the databases granted to the user.
func (d *Driver) ListAccess(ctx context.Context, user guest.UserRef) ([]string, error) {
	u, err := d.GetUser(ctx, user)
	if err != nil {
		return nil, err
	}
	return u.Databases, nil
}
