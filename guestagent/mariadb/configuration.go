package mariadb

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/coffer-dbaas/coffer/guestagent"
)

// How the configuration group reaches MariaDB: the agent writes the group's values into
// configuration.cnf on the volume, which coffer.cnf (rewritten at every start) includes at
// its end, so they persist over restarts and win over the settings sized from the flavor.
// A change sets the variables MariaDB changes at run time at once (SET GLOBAL); a variable
// that is read-only while the server runs waits for its next start and is reported
// pending. When MariaDB refuses a value, the file and the variables already set go back to
// what they were.

// groupName is the file the group's values are kept in, beside coffer.cnf.
const groupName = "configuration.cnf"

// variableName is what a MariaDB system variable's name may be: nothing else reaches SQL
// or the option file.
var variableName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// number is a value SET GLOBAL takes unquoted (MariaDB refuses a quoted number for a
// numeric variable).
var number = regexp.MustCompile(`^-?[0-9]{1,20}(\.[0-9]{1,20})?$`)

// managedVariables are the variables Coffer sets itself (coffer.cnf, replication, fencing,
// the guest logs); a group may not set them.
var managedVariables = []string{
	"bind_address", "datadir", "socket", "pid_file", "port", "log_error", "secure_file_priv", "local_infile",
	"skip_name_resolve", "symbolic_links", "server_id", "read_only", "log_bin", "log_slave_updates",
	"gtid_domain_id", "gtid_strict_mode", "binlog_format", "relay_log", "general_log", "general_log_file",
	"slow_query_log", "slow_query_log_file", "log_output", "plugin_load", "plugin_load_add", "plugin_dir",
	"init_file", "init_connect", "init_slave", "tmpdir", "user",
}

// validateValues refuses names that are not variable names or are Coffer's own, and values
// that would not stay one line of the option file.
func validateValues(values map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if !variableName.MatchString(name) {
			return fmt.Errorf("configuration: setting %q: %w: not a variable name", name, guestagent.ErrInvalid)
		}
		if slices.Contains(managedVariables, name) {
			return fmt.Errorf("configuration: setting %s: %w: Coffer sets it", name, guestagent.ErrInvalid)
		}
		if strings.ContainsFunc(values[name], func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("configuration: setting %s: %w: the value has control characters", name, guestagent.ErrInvalid)
		}
	}
	return nil
}

func (d *Driver) groupFile() string { return filepath.Join(d.volume, groupName) }

// groupText is configuration.cnf for the group's values, each quoted as option files read
// a value (in double quotes, a quote and a backslash escaped).
func groupText(values map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("# The instance's configuration group, written by the Coffer guest agent.\n[mariadbd]\n")
	for _, name := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(&b, "%s = \"%s\"\n", name, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(values[name]))
	}
	return b.Bytes()
}

// parseGroup reads back what groupText wrote.
func parseGroup(text []byte) map[string]string {
	values := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		name, quoted, ok := strings.Cut(sc.Text(), " = ")
		if !ok || !variableName.MatchString(name) || len(quoted) < 2 {
			continue
		}
		values[name] = strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(quoted[1 : len(quoted)-1])
	}
	return values
}

// readGroup returns the group's values and the file's text; none before the first group.
func (d *Driver) readGroup() (map[string]string, []byte, error) {
	text, err := os.ReadFile(d.groupFile())
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", groupName, err)
	}
	return parseGroup(text), text, nil
}

// writeGroup replaces configuration.cnf whole (a crash leaves the old or the new one).
func (d *Driver) writeGroup(text []byte) error {
	if text == nil {
		text = groupText(nil)
	}
	if err := guestagent.WriteFileSync(d.groupFile(), text, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", groupName, err)
	}
	return nil
}

// ApplyConfiguration sets the configuration group's values; see guestagent.Driver.
func (d *Driver) ApplyConfiguration(ctx context.Context, values map[string]string) ([]string, error) {
	if err := validateValues(values); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, oldText, err := d.readGroup()
	if err != nil {
		return nil, err
	}
	if err := d.writeGroup(groupText(values)); err != nil {
		return nil, err
	}
	if !d.server.Installed() || !d.server.Running() {
		return nil, nil // taken at the next start
	}
	pending, err := d.setGlobals(ctx, old, values)
	if err != nil {
		if undo := d.writeGroup(oldText); undo != nil {
			err = errors.Join(err, fmt.Errorf("put the old %s back: %w", groupName, undo))
		}
		return nil, err
	}
	return pending, nil
}

// setGlobals sets on the running server each variable whose value changes from old to
// values (a variable values no longer sets goes back to its size from the flavor, else to
// MariaDB's default), and returns the read-only ones, which wait for the next start. When
// MariaDB refuses one, the ones set before it are set back and the error wraps ErrInvalid.
func (d *Driver) setGlobals(ctx context.Context, old, values map[string]string) ([]string, error) {
	db, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	sized := sizedSettings(d.ramMB)
	var pending []string
	type change struct{ name, before string }
	var done []change
	undo := func(err error) error {
		for _, c := range slices.Backward(done) {
			if _, uerr := db.ExecContext(ctx, "SET GLOBAL "+c.name+" = "+c.before); uerr != nil {
				err = errors.Join(err, fmt.Errorf("set %s back: %w", c.name, uerr))
			}
		}
		return err
	}
	names := slices.Sorted(maps.Keys(values))
	for _, name := range slices.Sorted(maps.Keys(old)) {
		if _, kept := values[name]; !kept {
			names = append(names, name)
		}
	}
	for _, name := range names {
		value, set := values[name]
		if was, had := old[name]; had == set && was == value {
			continue
		}
		var readOnly string
		err := db.QueryRowContext(ctx, "SELECT READ_ONLY FROM INFORMATION_SCHEMA.SYSTEM_VARIABLES WHERE VARIABLE_NAME = ?", name).Scan(&readOnly)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, undo(fmt.Errorf("configuration: %w: MariaDB has no variable %s", guestagent.ErrInvalid, name))
		}
		if err != nil {
			return nil, undo(fmt.Errorf("read variable %s: %w", name, err))
		}
		if readOnly == "YES" {
			pending = append(pending, name)
			continue
		}
		var before sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&before); err != nil {
			return nil, undo(fmt.Errorf("read variable %s: %w", name, err))
		}
		target, args := "DEFAULT", []any(nil)
		switch {
		case set && number.MatchString(value):
			target = value
		case set:
			target, args = "?", []any{value}
		case sized[name] != "":
			target = sized[name]
		}
		if _, err := db.ExecContext(ctx, "SET GLOBAL "+name+" = "+target, args...); err != nil {
			return nil, undo(fmt.Errorf("configuration: MariaDB refuses %s: %w", name, refused(err)))
		}
		done = append(done, change{name, globalLiteral(before)})
	}
	slices.Sort(pending)
	return pending, nil
}

// globalLiteral writes a variable's value as SET GLOBAL takes it back: a number as it is,
// NULL, or a quoted string.
func globalLiteral(v sql.NullString) string {
	switch {
	case !v.Valid:
		return "NULL"
	case number.MatchString(v.String):
		return v.String
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(v.String) + "'"
}

// refused marks MariaDB's refusals of a value (a wrong value or type, an unknown or
// read-only variable) as ErrInvalid.
func refused(err error) error {
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1193, 1210, 1228, 1229, 1231, 1232, 1238, 1621:
			return fmt.Errorf("%w: %w", guestagent.ErrInvalid, err)
		}
	}
	return err
}

// Configuration reports the flavor's sized settings and the group's values as the server
// runs with them; see guestagent.Driver.
func (d *Driver) Configuration(ctx context.Context) (map[string]string, error) {
	group, _, err := d.readGroup()
	if err != nil {
		return nil, err
	}
	names := slices.Collect(maps.Keys(sizedSettings(d.ramMB)))
	for name := range group {
		names = append(names, name)
	}
	db, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	args := make([]any, len(names))
	for i, name := range names {
		args[i] = strings.ToUpper(name)
	}
	rows, err := db.QueryContext(ctx, "SELECT LOWER(VARIABLE_NAME), VARIABLE_VALUE FROM INFORMATION_SCHEMA.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN (?"+
		strings.Repeat(", ?", len(args)-1)+")", args...)
	if err != nil {
		return nil, fmt.Errorf("read the configuration: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name string
		var value sql.NullString
		if err := rows.Scan(&name, &value); err != nil {
			return nil, err
		}
		out[name] = value.String
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the configuration: %w", err)
	}
	return out, nil
}
