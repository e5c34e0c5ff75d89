package audit

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Syslog is a Sink that sends each record as an RFC 5424 message over UDP
// (one datagram each), TCP (octet-counted framing, RFC 6587) or TLS (the
// same framing, RFC 5425; the receiver's certificate verified). The
// message is the record's JSON, so CR, LF and control characters in
// values arrive escaped (C1 controls and format characters such as
// bidirectional overrides too: see encodeEvent).
type Syslog struct {
	name     string
	network  string
	addr     string
	facility int
	hostname string
	app      string
	dialer   net.Dialer
	tls      *tls.Config // network "tls"

	mu   sync.Mutex
	conn net.Conn
}

// SyslogOptions tune a Syslog sink. The zero value (or nil) is the default.
type SyslogOptions struct {
	// Facility is the syslog facility; 0 means 13 (log audit).
	Facility int
	// Hostname names this host in messages; "" means os.Hostname.
	Hostname string
	// AppName is the APP-NAME field; "" means "gatehouse".
	AppName string
	// TLS configures the "tls" network: nil means the system's roots and
	// the host of addr as the name the certificate must carry. It is
	// cloned; a ServerName left empty is the host of addr.
	TLS *tls.Config
	// AllowPlain accepts udp or tcp to a host other than this machine,
	// which sends the trail across the network in clear.
	AllowPlain bool
}

// NewSyslog returns a syslog sink named name (stream position stored under
// "syslog:"+name) sending to addr over network ("udp", "tcp" or "tls").
// Over udp or tcp, addr must be this machine's (localhost, 127.0.0.0/8,
// ::1) unless opts.AllowPlain.
func NewSyslog(name, network, addr string, opts *SyslogOptions) (*Syslog, error) {
	if network != "udp" && network != "tcp" && network != "tls" {
		return nil, fmt.Errorf("syslog %s: network must be udp, tcp or tls, not %q", name, network)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("syslog %s: %w", name, err)
	}
	// The trail leaves the machine only encrypted (as the webhook's, and
	// the HTTP tools' and upstreams' traffic): udp and tcp carry it in
	// clear, to another host only when the caller accepts that.
	if network != "tls" && !store.IsLoopbackHost(host) && (opts == nil || !opts.AllowPlain) {
		return nil, fmt.Errorf("syslog %s: %s to a host other than this machine sends the audit trail across the network in clear: use tls, or accept it explicitly", name, network)
	}
	s := &Syslog{name: name, network: network, addr: addr, facility: 13, app: "gatehouse"}
	s.dialer.Timeout = 10 * time.Second
	if network == "tls" {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if opts != nil && opts.TLS != nil {
			s.tls = opts.TLS.Clone()
		}
		if s.tls.ServerName == "" {
			s.tls.ServerName = host
		}
	}
	if opts != nil {
		if opts.Facility > 0 && opts.Facility < 24 {
			s.facility = opts.Facility
		}
		s.hostname = opts.Hostname
		if opts.AppName != "" {
			s.app = opts.AppName
		}
	}
	if s.hostname == "" {
		s.hostname, _ = os.Hostname()
	}
	s.hostname = headerField(s.hostname, 255)
	s.app = headerField(s.app, 48)
	return s, nil
}

// Name returns the sink's name.
func (s *Syslog) Name() string { return "syslog:" + s.name }

// Send writes one message per entry. On an error the connection is
// dropped and made anew by the next Send; so is a TCP connection the
// receiver has closed since the last Send. (Over UDP, or when the
// receiver dies with records in flight, a message can still be lost
// without an error: the transport does not say.)
func (s *Syslog) Send(ctx context.Context, entries []Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.network != "udp" && peerClosed(s.conn) {
		// The receiver closed the connection (it restarted, or dropped
		// an idle client): a write would still succeed locally and its
		// records would be lost, counted delivered. Connect anew.
		s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		var (
			c   net.Conn
			err error
		)
		if s.tls != nil {
			d := tls.Dialer{NetDialer: &s.dialer, Config: s.tls}
			c, err = d.DialContext(ctx, "tcp", s.addr)
		} else {
			c, err = s.dialer.DialContext(ctx, s.network, s.addr)
		}
		if err != nil {
			return fmt.Errorf("syslog %s: %w", s.name, err)
		}
		s.conn = c
	}
	// The context's deadline bounds each write (none: a zero deadline,
	// clearing one a Send before left), and its end cuts a write short: a
	// receiver that stopped reading must not hold Send (and Close, at
	// shutdown) until the deadline once the stream is cancelled.
	dl, _ := ctx.Deadline()
	s.conn.SetWriteDeadline(dl)
	conn := s.conn
	defer context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Unix(1, 0)) })()
	var buf bytes.Buffer
	for _, e := range entries {
		msg, err := s.format(e)
		if err != nil {
			return err
		}
		if s.network == "udp" && len(msg) > maxDatagram {
			// It can never be sent as it is, and retrying it would stop
			// the stream for good: send it with its event cut down to a
			// marker (it no longer re-hashes; the record is in the store).
			cut := e
			cut.Event = Event{Type: e.Event.Type, Detail: map[string]any{"truncated": true, "size": len(e.Raw)}}
			cut.Raw = nil
			if msg, err = s.format(cut); err != nil {
				return err
			}
		}
		buf.Reset()
		if s.network != "udp" {
			buf.WriteString(strconv.Itoa(len(msg)))
			buf.WriteByte(' ')
		}
		buf.Write(msg)
		if _, err := s.conn.Write(buf.Bytes()); err != nil {
			s.conn.Close()
			s.conn = nil
			return fmt.Errorf("syslog %s: %w", s.name, err)
		}
	}
	return nil
}

// peerClosed reports whether the other end of a TCP or TLS connection has
// closed it (or sent anything: a syslog receiver never does), by a read
// that may wait a millisecond. (A TLS read that times out leaves the
// connection usable; what TLS itself sends, such as session tickets, is
// taken in by the read and is not data.)
func peerClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

// maxDatagram is the largest UDP payload (over IPv4).
const maxDatagram = 65507

// Close drops the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// format builds "<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG".
func (s *Syslog) format(e Entry) ([]byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("syslog %s: %w", s.name, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s %s %d %s - ", s.facility*8+severity(e.Event),
		e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), s.hostname, s.app, os.Getpid(), headerField(e.Event.Type, 32))
	b.Write(body)
	return b.Bytes(), nil
}

// severity is warning (4) for refusals and failures, info (6) otherwise.
func severity(e Event) int {
	switch {
	case e.Decision == "deny", e.Type == LoginFailed, e.Type == SlipReplay, e.Type == TokenReuse:
		return 4
	}
	return 6
}

// headerField makes s a syslog header field: printable US-ASCII without
// spaces, at most n characters, "-" when empty.
func headerField(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}
