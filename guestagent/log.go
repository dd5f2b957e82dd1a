package guestagent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"github.com/coffer-dbaas/coffer/guest"
)

// The engine's logs (guest.ListLogsActivity and the others): the driver says where each
// is; the agent keeps how much of each it published in a file beside it
// ("<log>.published", on the volume, so a reboot does not publish a log twice) and streams
// the rest to Swift through a temp URL, as backups go.

func (a *activities) logActivities() map[string]any {
	return map[string]any{
		guest.ListLogsActivity:   a.ListLogs,
		guest.SetLogActivity:     a.SetLog,
		guest.PublishLogActivity: a.PublishLog,
		guest.DiscardLogActivity: a.DiscardLog,
	}
}

// ListLogs lists the engine's logs; see guest.ListLogsActivity.
func (a *activities) ListLogs(ctx context.Context) ([]guest.LogInfo, error) {
	logs, err := a.driver.Logs(ctx)
	if err != nil {
		return nil, a.fail(ctx, guest.ListLogsActivity, err)
	}
	infos := make([]guest.LogInfo, 0, len(logs))
	for _, l := range logs {
		info, err := logInfo(l)
		if err != nil {
			return nil, a.fail(ctx, guest.ListLogsActivity, err)
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// SetLog turns a log on or off; see guest.SetLogActivity.
func (a *activities) SetLog(ctx context.Context, in guest.SetLogInput) (guest.LogInfo, error) {
	l, err := a.findLog(ctx, in.Name)
	if err == nil && l.Type == guest.LogSys {
		err = fmt.Errorf("log %s is a system log, always on: %w", in.Name, ErrInvalid)
	}
	if err == nil && l.Enabled != in.Enable {
		if err = a.driver.SetLog(ctx, in.Name, in.Enable); err == nil {
			l, err = a.findLog(ctx, in.Name)
		}
	}
	if err != nil {
		return guest.LogInfo{}, a.fail(ctx, guest.SetLogActivity, err)
	}
	return a.info(ctx, guest.SetLogActivity, l)
}

// PublishLog streams the log's unpublished part into Swift; see guest.PublishLogActivity.
func (a *activities) PublishLog(ctx context.Context, in guest.PublishLogInput) (guest.LogInfo, error) {
	l, err := a.findLog(ctx, in.Name)
	if err == nil && l.Type == guest.LogUser && !l.Enabled {
		if err = a.driver.SetLog(ctx, in.Name, true); err == nil {
			l, err = a.findLog(ctx, in.Name)
		}
	}
	if err == nil {
		err = publish(ctx, l.Path, in)
	}
	if err != nil {
		return guest.LogInfo{}, a.fail(ctx, guest.PublishLogActivity, err)
	}
	a.logger(ctx).Info("log published", "log", in.Name, "object", in.Object)
	return a.info(ctx, guest.PublishLogActivity, l)
}

// DiscardLog forgets what was published; see guest.DiscardLogActivity.
func (a *activities) DiscardLog(ctx context.Context, in guest.LogRef) (guest.LogInfo, error) {
	l, err := a.findLog(ctx, in.Name)
	if err == nil {
		if err = os.Remove(publishedFile(l.Path)); errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	if err != nil {
		return guest.LogInfo{}, a.fail(ctx, guest.DiscardLogActivity, err)
	}
	return a.info(ctx, guest.DiscardLogActivity, l)
}

func (a *activities) findLog(ctx context.Context, name string) (EngineLog, error) {
	logs, err := a.driver.Logs(ctx)
	if err != nil {
		return EngineLog{}, err
	}
	for _, l := range logs {
		if l.Name == name {
			return l, nil
		}
	}
	return EngineLog{}, fmt.Errorf("log %q: %w", name, ErrNotFound)
}

func (a *activities) info(ctx context.Context, activity string, l EngineLog) (guest.LogInfo, error) {
	info, err := logInfo(l)
	if err != nil {
		return guest.LogInfo{}, a.fail(ctx, activity, err)
	}
	return info, nil
}

// logInfo is l with its size now and how much of it was published.
func logInfo(l EngineLog) (guest.LogInfo, error) {
	info := guest.LogInfo{Name: l.Name, Type: l.Type, Enabled: l.Enabled}
	st, err := os.Stat(l.Path)
	switch {
	case err == nil:
		info.Size = st.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return info, fmt.Errorf("log %s: %w", l.Name, err)
	}
	if info.Published, err = readPublished(l.Path); err != nil {
		return info, err
	}
	return info, nil
}

func publishedFile(path string) string { return path + ".published" }

// readPublished reads how many bytes of the log at path were published; none is 0.
func readPublished(path string) (int64, error) {
	b, err := os.ReadFile(publishedFile(path))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read what was published of %s: %w", path, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, nil // a torn write: publish it all again
	}
	return n, nil
}

// publish uploads the log at path from where the last publish ended (from its start when
// it shrank since: rotated) up to its size now, as one object with its line count, and
// then records the new end. A publish that fails records nothing: the next one sends the
// same bytes again, under its own object name.
func publish(ctx context.Context, path string, in guest.PublishLogInput) error {
	from, err := readPublished(path)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("log %s has no file yet: %w", in.Name, ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("open log %s: %w", in.Name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	to := st.Size()
	if to < from {
		from = 0
	}
	if to == from {
		return nil // nothing new
	}
	// Trove's clients read the line count from the object's metadata (log-tail), so count
	// the lines first; the part is read again to send it.
	lines, err := countLines(io.NewSectionReader(f, from, to-from))
	if err != nil {
		return fmt.Errorf("read log %s: %w", in.Name, err)
	}
	swift := swiftClient(in.Swift, in.Container)
	res := objects.Create(ctx, swift, in.Container, in.Object, objects.CreateOpts{
		Content:     io.NewSectionReader(f, from, to-from),
		ContentType: "text/plain",
		Metadata:    map[string]string{"Lines": strconv.Itoa(lines)},
		NoETag:      true,
	})
	if res.Err != nil {
		return fmt.Errorf("publish log %s: %w", in.Name, res.Err)
	}
	tmp := publishedFile(path) + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(to, 10)), 0o600); err != nil {
		return fmt.Errorf("record what was published of %s: %w", in.Name, err)
	}
	return os.Rename(tmp, publishedFile(path))
}

func countLines(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := br.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
