package redis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// conn is one session with redis-server over RESP2, the protocol's request and reply
// forms the agent needs: simple strings, errors, integers, bulk strings and arrays.
type conn struct {
	c net.Conn
	r *bufio.Reader
}

// replyError is an error reply of the server (-ERR ..., -NOPERM ...).
type replyError string

func (e replyError) Error() string { return string(e) }

// dial opens a session on the network's address (the Unix socket, for the agent) and
// authenticates as user. The deadline of ctx (or a minute) bounds every command of the
// session.
func dial(ctx context.Context, network, address, user, password string) (*conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	_ = c.SetDeadline(deadline)
	s := &conn{c: c, r: bufio.NewReader(c)}
	if _, err := s.do("AUTH", user, password); err != nil {
		c.Close()
		return nil, fmt.Errorf("auth as %s: %w", user, err)
	}
	return s, nil
}

func (s *conn) Close() error { return s.c.Close() }

// Session is a tenant's session with a Redis server over TCP, as any client has one; the
// end-to-end tests write and read through it.
type Session struct{ c *conn }

// DialTenant opens a session with the server at address (host:port) as Redis's default
// user, the tenant's root, with password.
func DialTenant(ctx context.Context, address, password string) (*Session, error) {
	c, err := dial(ctx, "tcp", address, "default", password)
	if err != nil {
		return nil, err
	}
	return &Session{c: c}, nil
}

// Do runs one command within timeout: its reply is a string, an int64, nil or an []any;
// an error reply is an error IsReplyError knows. After any other error (a timeout, a
// broken connection) the session is out of step: close it.
func (s *Session) Do(timeout time.Duration, args ...string) (any, error) {
	_ = s.c.c.SetDeadline(time.Now().Add(timeout))
	return s.c.do(args...)
}

// Close ends the session.
func (s *Session) Close() error { return s.c.Close() }

// IsReplyError says whether err is the server's error reply (-READONLY, -NOPERM, ...).
func IsReplyError(err error) bool {
	var re replyError
	return errors.As(err, &re)
}

// do sends one command and reads its reply: string, int64, nil, []any, or a replyError.
func (s *conn) do(args ...string) (any, error) {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := io.WriteString(s.c, b.String()); err != nil {
		return nil, err
	}
	v, err := s.read()
	if err != nil {
		return nil, err
	}
	if e, ok := v.(replyError); ok {
		return nil, e
	}
	return v, nil
}

// str runs a command whose reply is a string (OK, PONG, a bulk string).
func (s *conn) str(args ...string) (string, error) {
	v, err := s.do(args...)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("%s: unexpected reply %v", args[0], v)
	}
}

func (s *conn) read() (any, error) {
	line, err := s.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return replyError(line[1:]), nil
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(s.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			v, err := s.read()
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// configGet reads one configuration value.
func (s *conn) configGet(name string) (string, error) {
	v, err := s.do("CONFIG", "GET", name)
	if err != nil {
		return "", err
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", fmt.Errorf("config get %s: unexpected reply %v", name, v)
	}
	val, _ := a[1].(string)
	return val, nil
}
