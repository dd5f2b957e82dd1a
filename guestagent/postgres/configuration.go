package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dbaas/coffer/guestagent"
)

// How the configuration group reaches PostgreSQL: the agent keeps the group's values in
// configuration.json on the volume, and writes coffer.conf into the data folder at every
// start and every change: the settings sized from the flavor (sizedSettings) that the
// group does not set, then the group's values. postgresql.conf includes coffer.conf at its
// end, so it wins over initdb's defaults; the fixed settings stay on the command line,
// where nothing overrides them. A reload makes the server read it again: settings it can
// change at run time take effect at once, the others (context postmaster) at the next
// start, which PostgreSQL itself tells apart (pg_file_settings). On a standby, the settings
// a hot standby needs at least as high as its primary are raised to the primary's values
// (confValues).

// confName is the file Coffer writes its settings into, in the data folder.
const confName = "coffer.conf"

// includeLine makes postgresql.conf read coffer.conf.
const includeLine = "include_if_exists = '" + confName + "'\t# written by coffer\n"

// reloadTimeout bounds the wait for the server to take a reload.
const reloadTimeout = 30 * time.Second

// settingName is what a parameter name may be (a custom one has a dot).
var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]{0,127}$`)

// validateValues refuses names and values that would not stay one line of coffer.conf.
func validateValues(values map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if !settingName.MatchString(name) {
			return fmt.Errorf("configuration: setting %q: %w: not a parameter name", name, guestagent.ErrInvalid)
		}
		if _, fixed := fixedSettings()[strings.ToLower(name)]; fixed {
			return fmt.Errorf("configuration: setting %s: %w: Coffer sets it", name, guestagent.ErrInvalid)
		}
		if strings.ContainsFunc(values[name], func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("configuration: setting %s: %w: the value has control characters", name, guestagent.ErrInvalid)
		}
	}
	return nil
}

// readValues returns the configuration group's values kept on the volume; none before the
// first group.
func (d *Driver) readValues() (map[string]string, error) {
	b, err := os.ReadFile(d.valuesFile)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(b) == 0 {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the configuration group's values: %w", err)
	}
	values := map[string]string{}
	if err := json.Unmarshal(b, &values); err != nil {
		return nil, fmt.Errorf("read the configuration group's values from %s: %w", d.valuesFile, err)
	}
	return values, nil
}

// saveValues keeps the configuration group's values on the volume, durably.
func (d *Driver) saveValues(values map[string]string) error {
	b, err := json.Marshal(values)
	if err != nil {
		return err
	}
	if err := writeFileSync(d.valuesFile, b, 0o600); err != nil {
		return fmt.Errorf("keep the configuration group's values: %w", err)
	}
	return nil
}

// confText is coffer.conf for the flavor's memory and the group's values.
func confText(ramMB int, values map[string]string) string {
	var b strings.Builder
	b.WriteString("# Written by Coffer's guest agent at every start and every change of the instance's\n" +
		"# configuration group: the settings sized from the flavor, then the group's values.\n")
	set := map[string]bool{}
	for name := range values {
		set[strings.ToLower(name)] = true
	}
	sized := sizedSettings(ramMB)
	for _, name := range slices.Sorted(maps.Keys(sized)) {
		if !set[name] {
			fmt.Fprintf(&b, "%s = %s\n", name, confValue(sized[name]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(&b, "%s = %s\n", name, confValue(values[name]))
	}
	return b.String()
}

// confValues are the values coffer.conf gets for the group's values: on a standby, each
// hot-standby setting raised to at least its primary's value, as the control file records
// it (from the copy of the primary's data, then from each change the standby replays), so
// that a primary's group that raises one never stops its replicas: they take the raised
// value at their next start. What is kept on the volume stays the group's own values, so a
// promoted standby runs with them again.
func (d *Driver) confValues(ctx context.Context, values map[string]string) (map[string]string, error) {
	if !d.isStandby() {
		return values, nil
	}
	cd, err := d.cluster.ReadControlData(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the primary's settings from the control file: %w", err)
	}
	return atLeast(values, sizedSettings(d.ramMB), cd.Settings), nil
}

// atLeast returns values with each hot-standby setting raised to at least its value in
// floor when the group's value (else the sized one, else the engine's default) may be
// less.
func atLeast(values, sized, floor map[string]string) map[string]string {
	out := maps.Clone(values)
	if out == nil {
		out = map[string]string{}
	}
	named := map[string]string{}
	for name := range values {
		named[strings.ToLower(name)] = name
	}
	for _, name := range hotStandbySettings() {
		least, err := strconv.Atoi(floor[name])
		if err != nil {
			continue
		}
		key, set := named[name]
		v := sized[name]
		if set {
			v = values[key]
		} else {
			key = name
		}
		if n, err := strconv.Atoi(v); err == nil && n >= least {
			continue
		}
		out[key] = strconv.Itoa(least)
	}
	return out
}

// confValue quotes a value as postgresql.conf reads it: in single quotes, a quote doubled
// and a backslash escaped.
func confValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(v) + "'"
}

// writeConf writes coffer.conf (replacing it whole, so a crash leaves the old one or the
// new one) and makes postgresql.conf include it.
func (d *Driver) writeConf(values map[string]string) error {
	conf := filepath.Join(d.cluster.DataDir, "postgresql.conf")
	main, err := os.ReadFile(conf)
	if err != nil {
		return fmt.Errorf("read postgresql.conf: %w", err)
	}
	if !strings.Contains(string(main), includeLine) {
		if len(main) > 0 && !strings.HasSuffix(string(main), "\n") {
			main = append(main, '\n')
		}
		if err := d.cluster.WriteFile("postgresql.conf", string(main)+includeLine); err != nil {
			return err
		}
	}
	if err := d.cluster.WriteFile(confName+".new", confText(d.ramMB, values)); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(d.cluster.DataDir, confName+".new"), filepath.Join(d.cluster.DataDir, confName)); err != nil {
		return fmt.Errorf("write %s: %w", confName, err)
	}
	return nil
}

// checkConf asks the running server what it makes of its configuration files as they are
// now, before it reloads them: settings whose value it refuses (invalid), and settings it
// would take only at its next start (pending): a changed value of a postmaster setting,
// and a postmaster setting coffer.conf set before and sets no more. Both sorted.
func (d *Driver) checkConf(ctx context.Context, values map[string]string) (invalid, pending []string, err error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `
		SELECT f.name, coalesce(s.context, '') = 'postmaster'
		FROM pg_file_settings f LEFT JOIN pg_settings s ON lower(s.name) = lower(f.name)
		WHERE f.error IS NOT NULL`)
	if err != nil {
		return nil, nil, fmt.Errorf("read pg_file_settings: %w", err)
	}
	for rows.Next() {
		var (
			name       string
			postmaster bool
		)
		if err := rows.Scan(&name, &postmaster); err != nil {
			return nil, nil, err
		}
		if postmaster {
			pending = append(pending, name)
		} else {
			invalid = append(invalid, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read pg_file_settings: %w", err)
	}
	var inFile []string
	for name := range sizedSettings(d.ramMB) {
		inFile = append(inFile, name)
	}
	for name := range values {
		inFile = append(inFile, strings.ToLower(name))
	}
	rows, err = conn.Query(ctx, `
		SELECT name FROM pg_settings
		WHERE context = 'postmaster' AND sourcefile = $1 AND NOT lower(name) = ANY($2)`,
		filepath.Join(d.cluster.DataDir, confName), inFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read pg_settings: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, nil, err
		}
		pending = append(pending, name)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read pg_settings: %w", err)
	}
	slices.Sort(invalid)
	slices.Sort(pending)
	return slices.Compact(invalid), slices.Compact(pending), nil
}

// reload makes the server read its configuration files again and waits until it did: a
// session started afterwards runs with the new settings.
func (d *Driver) reload(ctx context.Context) error {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	var before time.Time
	err = conn.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&before)
	if err == nil {
		_, err = conn.Exec(ctx, "SELECT pg_reload_conf()")
	}
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("reload the configuration: %w", err)
	}
	deadline := time.Now().Add(reloadTimeout)
	for {
		conn, err := d.connect(ctx, "postgres")
		if err != nil {
			return err
		}
		var loaded time.Time
		err = conn.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&loaded)
		conn.Close(context.WithoutCancel(ctx))
		switch {
		case err != nil:
			return fmt.Errorf("reload the configuration: %w", err)
		case loaded.After(before):
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("reload the configuration: the server did not take it within %s", reloadTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ApplyConfiguration sets the configuration group's values; see guestagent.Driver. The
// server checks the new file before anything is kept: a value it refuses puts the old
// file back. An engine that is not running takes the values at its next start.
func (d *Driver) ApplyConfiguration(ctx context.Context, values map[string]string) ([]string, error) {
	if values == nil {
		values = map[string]string{}
	}
	if err := validateValues(values); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.cluster.Initialized() || !d.cluster.Running() {
		return nil, d.saveValues(values)
	}
	old, err := d.readValues()
	if err != nil {
		return nil, err
	}
	if old, err = d.confValues(ctx, old); err != nil {
		return nil, err
	}
	conf, err := d.confValues(ctx, values)
	if err != nil {
		return nil, err
	}
	if err := d.writeConf(conf); err != nil {
		return nil, err
	}
	invalid, pending, err := d.checkConf(ctx, conf)
	if err == nil && len(invalid) > 0 {
		err = fmt.Errorf("configuration: PostgreSQL refuses the value of %s: %w", strings.Join(invalid, ", "), guestagent.ErrInvalid)
	}
	if err != nil {
		if undo := d.writeConf(old); undo != nil {
			err = errors.Join(err, fmt.Errorf("put the old %s back: %w", confName, undo))
		}
		return nil, err
	}
	if err := d.saveValues(values); err != nil {
		return nil, err
	}
	if err := d.reload(ctx); err != nil {
		return nil, err
	}
	return pending, nil
}

// Configuration reports the settings coffer.conf set that the server runs with; see
// guestagent.Driver.
func (d *Driver) Configuration(ctx context.Context) (map[string]string, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT name, current_setting(name) FROM pg_settings WHERE sourcefile = $1 ORDER BY name",
		filepath.Join(d.cluster.DataDir, confName))
	if err != nil {
		return nil, fmt.Errorf("read the configuration: %w", err)
	}
	out := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, err
		}
		out[name] = value
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the configuration: %w", err)
	}
	return out, nil
}
