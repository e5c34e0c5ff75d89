package audit_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/store/sqldb"
)

var fastRetry = &audit.StreamOptions{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, FromStart: true}

// hook is a webhook receiver that checks signatures, fails the first
// failFirst deliveries and passes on the seqs of the others.
type hook struct {
	t         *testing.T
	secret    []byte
	mu        sync.Mutex
	failFirst int
	calls     int
	got       chan int64
}

func newHook(t *testing.T, failFirst int) (*hook, *httptest.Server) {
	h := &hook{t: t, secret: []byte("webhook signing secret"), failFirst: failFirst, got: make(chan int64, 1000)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !audit.VerifyWebhook(h.secret, r.Header.Get(audit.WebhookTimestampHeader), r.Header.Get(audit.WebhookSignatureHeader), body) {
		h.t.Errorf("bad signature on %s", body)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	h.calls++
	fail := h.calls <= h.failFirst
	h.mu.Unlock()
	if fail {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	var wb audit.WebhookBody
	if err := json.Unmarshal(body, &wb); err != nil {
		h.t.Errorf("body: %v", err)
		return
	}
	for _, e := range wb.Records {
		if !e.Valid() {
			h.t.Errorf("record %d does not re-hash", e.Seq)
		}
		h.got <- e.Seq
	}
}

// collect reads n distinct seqs (redeliveries are allowed) in order.
func collect(t *testing.T, ch <-chan int64, n int) []int64 {
	t.Helper()
	var out []int64
	seen := map[int64]bool{}
	deadline := time.After(time.Minute)
	for len(out) < n {
		select {
		case s := <-ch:
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		case <-deadline:
			t.Fatalf("after a minute, %d of %d records delivered: %v", len(out), n, out)
		}
	}
	return out
}

// TestWebhookStream delivers through a failing endpoint: retried until it
// takes them, in order, counted; after a restart the stream resumes from
// its stored position.
func TestWebhookStream(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, nil)
		h, srv := newHook(t, 2)
		wh, err := audit.NewWebhook("siem", srv.URL+"/hook?token=abc", h.secret, nil)
		if err != nil {
			t.Fatal(err)
		}
		ss := e.log.Stream([]audit.Sink{wh}, fastRetry)
		e.record(t, scenario()[:5]...)
		if diff := cmp.Diff([]int64{1, 2, 3, 4, 5}, collect(t, h.got, 5)); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		for ss.Stats()[0].Cursor != 5 {
			runtime.Gosched() // the last answer is on its way back
		}
		ss.Close()
		st := ss.Stats()[0]
		if st.Name != "webhook:siem" || st.Failures < 2 || st.Sent < 5 || st.Cursor != 5 || st.Failing {
			t.Errorf("stats %+v", st)
		}
		if strings.Contains(st.LastError, "token=abc") || !strings.Contains(st.LastError, "503") {
			t.Errorf("last error %q", st.LastError)
		}

		// Written while no stream runs; a new one starts where the last stopped.
		e.record(t, scenario()[5:]...)
		h2, srv2 := newHook(t, 0)
		wh2, err := audit.NewWebhook("siem", srv2.URL, h2.secret, nil)
		if err != nil {
			t.Fatal(err)
		}
		ss = e.log.Stream([]audit.Sink{wh2}, fastRetry)
		defer ss.Close()
		if got := collect(t, h2.got, 2); !cmp.Equal([]int64{6, 7}, got) {
			t.Errorf("after restart got %v, want [6 7] (nothing before)", got)
		}
	})
}

// TestStreamNeverBlocksRecord: a sink that hangs holds up nothing.
func TestStreamNeverBlocksRecord(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	wh, err := audit.NewWebhook("stuck", srv.URL, []byte("webhook-test-secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ss := e.log.Stream([]audit.Sink{wh}, fastRetry)
	defer ss.Close()
	e.record(t, events(50)...) // returns although no delivery can finish
	if st := ss.Stats()[0]; st.Sent != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestStreamStartsAtHead: a new sink without FromStart gets only what is
// written after it started.
func TestStreamStartsAtHead(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	e.record(t, events(3)...)
	h, srv := newHook(t, 0)
	wh, _ := audit.NewWebhook("new", srv.URL, h.secret, nil)
	ss := e.log.Stream([]audit.Sink{wh}, &audit.StreamOptions{MinBackoff: time.Millisecond})
	defer ss.Close()
	for ss.Stats()[0].Cursor != 3 {
		// The stream has stored its starting position once the cursor shows.
		runtime.Gosched()
	}
	e.record(t, events(1)...)
	if got := collect(t, h.got, 1); got[0] != 4 {
		t.Errorf("first delivered %d, want 4", got[0])
	}
}

var syslogLine = regexp.MustCompile(`^<(\d+)>1 (\S+) testhost gatehouse (\d+) (\S+) - (\{.*\})$`)

func TestSyslog(t *testing.T) {
	hostile := audit.Event{Type: audit.ToolDecided, Actor: "eve\n<14>1 forged\u009b2J\x7f\u202egnp.exe\u200b\U000e0041",
		Decision: "deny", Detail: map[string]any{"note": "\u009b31mred"}}
	check := func(t *testing.T, msgs []string) {
		t.Helper()
		wantPRI := []string{"110", "108"} // 13*8 + info(6), 13*8 + warning(4)
		wantType := []string{audit.LoginSucceeded, audit.ToolDecided}
		for i, m := range msgs {
			g := syslogLine.FindStringSubmatch(m)
			if g == nil {
				t.Fatalf("message %q is not RFC 5424 as expected", m)
			}
			if g[1] != wantPRI[i] || g[4] != wantType[i] {
				t.Errorf("message %d: PRI %s type %s", i, g[1], g[4])
			}
			var en audit.Entry
			if err := json.Unmarshal([]byte(g[5]), &en); err != nil || en.Seq != int64(i+1) || !en.Valid() {
				t.Errorf("message %d body: %v %+v", i, err, en)
			}
			if i == 1 && (en.Event.Actor != hostile.Actor || en.Event.Detail["note"] != hostile.Detail["note"]) {
				t.Errorf("hostile values do not read back: %q %v", en.Event.Actor, en.Event.Detail)
			}
			// No C1 control (CSI), DEL, bidi override or invisible
			// character arrives as itself.
			if strings.ContainsAny(m, "\u009b\x7f\u202e\u200b\U000e0041") {
				t.Errorf("message %d carries control or format characters: %q", i, m)
			}
		}
		if !strings.Contains(msgs[1], `eve\n\u003c14\u003e1 forged\u009b2J\u007f\u202egnp.exe\u200b\udb40\udc41`) {
			t.Errorf("hostile value not escaped: %q", msgs[1])
		}
	}

	t.Run("udp", func(t *testing.T) {
		e := newEnv(t, storetestSQLite, nil)
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		sl, err := audit.NewSyslog("local", "udp", pc.LocalAddr().String(), &audit.SyslogOptions{Hostname: "testhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer sl.Close()
		ss := e.log.Stream([]audit.Sink{sl}, fastRetry)
		defer ss.Close()
		e.record(t, audit.Event{Type: audit.LoginSucceeded, Actor: "alice"}, hostile)
		var msgs []string
		buf := make([]byte, 64<<10)
		for len(msgs) < 2 {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, string(buf[:n]))
		}
		check(t, msgs)
	})

	// stream sends both records over a connection-oriented network and
	// reads them from ln, octet-counted.
	stream := func(t *testing.T, network string, ln net.Listener, opts *audit.SyslogOptions) {
		e := newEnv(t, storetestSQLite, nil)
		sl, err := audit.NewSyslog("local", network, ln.Addr().String(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer sl.Close()
		ss := e.log.Stream([]audit.Sink{sl}, fastRetry)
		defer ss.Close()
		e.record(t, audit.Event{Type: audit.LoginSucceeded, Actor: "alice"}, hostile)
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var msgs []string
		for len(msgs) < 2 {
			msgs = append(msgs, readFrame(t, r))
		}
		check(t, msgs)
	}

	t.Run("tcp", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		stream(t, "tcp", ln, &audit.SyslogOptions{Hostname: "testhost"})
	})

	t.Run("tls", func(t *testing.T) {
		cert, roots := selfSigned(t)
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		stream(t, "tls", ln, &audit.SyslogOptions{Hostname: "testhost", TLS: &tls.Config{RootCAs: roots}})
	})
}

// readFrame reads one octet-counted syslog frame (RFC 6587, RFC 5425).
func readFrame(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	msg, err := frameOf(r)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func frameOf(r *bufio.Reader) (string, error) {
	lenStr, err := r.ReadString(' ')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(lenStr))
	if err != nil {
		return "", fmt.Errorf("frame length %q", lenStr)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return "", err
	}
	return string(msg), nil
}

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syslog receiver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, roots
}

// TestSyslogTLSRefusesAnUntrustedReceiver: over TLS, a receiver whose
// certificate no trusted root signed gets nothing; the send fails (and is
// retried by the stream), with the reason.
func TestSyslogTLSRefusesAnUntrustedReceiver(t *testing.T) {
	cert, _ := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // the handshake fails: nothing arrives
		got <- string(b)
	}()
	_, otherRoots := selfSigned(t)
	sl, err := audit.NewSyslog("local", "tls", ln.Addr().String(), &audit.SyslogOptions{TLS: &tls.Config{RootCAs: otherRoots}})
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	err = sl.Send(t.Context(), []audit.Entry{{Seq: 1, Time: time.Now(), Event: audit.Event{Type: audit.Logout}}})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("sending to an untrusted receiver: %v", err)
	}
	if b := <-got; b != "" {
		t.Errorf("the untrusted receiver got %q", b)
	}
}

func TestSinkConfigErrors(t *testing.T) {
	if _, err := audit.NewWebhook("x", "ftp://host/", []byte("webhook-test-secret"), nil); err == nil {
		t.Error("ftp webhook accepted")
	}
	if _, err := audit.NewWebhook("x", "https://host/", nil, nil); err == nil {
		t.Error("webhook without secret accepted")
	}
	// In clear only to this machine.
	for _, u := range []string{"http://siem.example/hook", "http://10.0.0.7:8080/hook", "http://[fe80::1]/hook"} {
		if _, err := audit.NewWebhook("x", u, []byte("webhook-test-secret"), nil); err == nil || !strings.Contains(err.Error(), "must be https") {
			t.Errorf("webhook %s: %v", u, err)
		}
	}
	for _, u := range []string{"https://siem.example/hook", "http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]:9000/hook"} {
		if _, err := audit.NewWebhook("x", u, []byte("webhook-test-secret"), nil); err != nil {
			t.Errorf("webhook %s refused: %v", u, err)
		}
	}
	if _, err := audit.NewSyslog("x", "unix", "/dev/log", nil); err == nil {
		t.Error("unix syslog accepted")
	}
	if _, err := audit.NewSyslog("x", "tls", "no-port", nil); err == nil {
		t.Error("tls syslog without a port accepted")
	}
}

// TestStreamOneSenderAcrossReplicas runs one webhook stream on two
// replicas: only one sends, nothing twice; when it stops, the other takes
// over once the claim has run out.
func TestStreamOneSenderAcrossReplicas(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) *sqldb.DB) {
		e := newEnv(t, open, &audit.Options{PollInterval: 5 * time.Millisecond})
		l2 := audit.New(storetestSecondHandle(t, e.st), e.keys, &audit.Options{Now: e.clock.Now, PollInterval: 5 * time.Millisecond, CheckpointInterval: -1})
		defer l2.Close()
		h, srv := newHook(t, 0)
		opts := &audit.StreamOptions{MinBackoff: time.Millisecond, FromStart: true, Lease: time.Minute}
		var streams [2]*audit.Streams
		for i, l := range []*audit.Log{e.log, l2} {
			wh, err := audit.NewWebhook("siem", srv.URL, h.secret, nil)
			if err != nil {
				t.Fatal(err)
			}
			streams[i] = l.Stream([]audit.Sink{wh}, opts)
			defer streams[i].Close()
		}
		e.record(t, events(10)...)
		var got []int64
		for len(got) < 10 {
			got = append(got, <-h.got)
		}
		if diff := cmp.Diff([]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, got); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		// The answer to the last delivery is on its way back.
		for streams[0].Stats()[0].Sent != 10 && streams[1].Stats()[0].Sent != 10 {
			runtime.Gosched()
		}
		sender := 0
		if streams[1].Stats()[0].Sent == 10 {
			sender = 1
		}
		if other := streams[1-sender].Stats()[0]; other.Sent != 0 || other.Active {
			t.Errorf("both replicas sent: %+v", other)
		}
		// The other replica shows where the stream stands (it reads the
		// stored position each poll), not a stale 0.
		for streams[1-sender].Stats()[0].Cursor != 10 {
			time.Sleep(time.Millisecond)
		}

		// The sender stops; its claim runs out; the other one goes on.
		streams[sender].Close()
		e.clock.Advance(2 * time.Minute)
		e.record(t, events(2)...)
		got = got[:0]
		for len(got) < 2 {
			got = append(got, <-h.got)
		}
		if diff := cmp.Diff([]int64{11, 12}, got); diff != "" {
			t.Errorf("after takeover (-want +got):\n%s", diff)
		}
		for streams[1-sender].Stats()[0].Cursor != 12 {
			runtime.Gosched()
		}
		if st := streams[1-sender].Stats()[0]; !st.Active || st.Sent != 2 {
			t.Errorf("the other replica: %+v", st)
		}
		select {
		case s := <-h.got:
			t.Errorf("record %d delivered twice", s)
		default:
		}
	})
}

// TestWebhookRedirectIsNotDelivery: an endpoint that redirects (to a page
// that answers 200 to a GET) has not taken the records: Send fails, so
// they are retried, and nothing is sent to the redirect's target.
func TestWebhookRedirectIsNotDelivery(t *testing.T) {
	var landed atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/landing", http.StatusFound)
	})
	mux.HandleFunc("/landing", func(w http.ResponseWriter, r *http.Request) { landed.Add(1) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, opts := range []*audit.WebhookOptions{nil, {Client: &http.Client{}}} {
		wh, err := audit.NewWebhook("moved", srv.URL+"/hook", []byte("webhook-test-secret"), opts)
		if err != nil {
			t.Fatal(err)
		}
		err = wh.Send(t.Context(), []audit.Entry{{Seq: 1, Event: audit.Event{Type: audit.Logout}}})
		if err == nil || !strings.Contains(err.Error(), "302") {
			t.Errorf("a redirect counted as a delivery: %v", err)
		}
	}
	if n := landed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

// TestSyslogTCPReconnectsAfterReceiverClosed: when the receiver closed the
// connection between two Sends (it restarted), the next Send connects
// anew instead of writing into the dead connection, where its message
// would be lost although Send reported it delivered.
func TestSyslogTCPReconnectsAfterReceiverClosed(t *testing.T) {
	cert, roots := selfSigned(t)
	for _, network := range []string{"tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			var (
				ln  net.Listener
				err error
			)
			opts := &audit.SyslogOptions{Hostname: "testhost"}
			if network == "tls" {
				ln, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
				opts.TLS = &tls.Config{RootCAs: roots}
			} else {
				ln, err = net.Listen("tcp", "127.0.0.1:0")
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			reconnects(t, network, ln, opts)
		})
	}
}

// reconnects sends a record, then another on the same connection, has the
// receiver close it, and sends a third: it arrives on a new connection (or
// the send fails, to be retried), never into the closed one.
func reconnects(t *testing.T, network string, ln net.Listener, opts *audit.SyslogOptions) {
	sl, err := audit.NewSyslog("local", network, ln.Addr().String(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	entry := func(seq int64) []audit.Entry {
		return []audit.Entry{{Seq: seq, Time: time.Now(), Event: audit.Event{Type: audit.Logout}}}
	}
	// The receiver: every frame of every connection, with its connection.
	type frame struct {
		c   net.Conn
		msg string
	}
	frames := make(chan frame, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					msg, err := frameOf(r)
					if err != nil {
						return
					}
					frames <- frame{c, msg}
				}
			}()
		}
	}()
	next := func(want string) frame {
		t.Helper()
		select {
		case f := <-frames:
			if !strings.Contains(f.msg, want) {
				t.Fatalf("message %q, want %s", f.msg, want)
			}
			return f
		case <-time.After(5 * time.Second):
			t.Fatalf("no message with %s", want)
		}
		return frame{}
	}
	if err := sl.Send(t.Context(), entry(1)); err != nil {
		t.Fatal(err)
	}
	first := next(`"seq":1`)
	if err := sl.Send(t.Context(), entry(2)); err != nil {
		t.Fatal(err)
	}
	if f := next(`"seq":2`); f.c != first.c {
		t.Error("a live connection was not kept")
	}
	first.c.Close() // the receiver restarts
	time.Sleep(50 * time.Millisecond)
	if err := sl.Send(t.Context(), entry(3)); err != nil {
		t.Logf("the send after the close failed, to be retried: %v", err)
		return // nothing lost
	}
	if f := next(`"seq":3`); f.c == first.c {
		t.Error("the third record went to the closed connection")
	}
}

// TestSyslogUDPOversizeRecord: a record too large for one UDP datagram
// (an event near MaxEventBytes) does not stop the stream for good: it is
// sent with its event cut down to a marker, and the next one follows.
func TestSyslogUDPOversizeRecord(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	sl, err := audit.NewSyslog("local", "udp", pc.LocalAddr().String(), &audit.SyslogOptions{Hostname: "testhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	big := audit.Event{Type: audit.AdminChange, Detail: map[string]any{"after": strings.Repeat("x", 64<<10)}}
	raw, err := json.Marshal(big)
	if err != nil {
		t.Fatal(err)
	}
	entries := []audit.Entry{
		{Seq: 1, Time: time.Now(), Event: big, Raw: raw},
		{Seq: 2, Time: time.Now(), Event: audit.Event{Type: audit.Logout}},
	}
	if err := sl.Send(t.Context(), entries); err != nil {
		t.Fatalf("an oversize record stops the stream: %v", err)
	}
	buf := make([]byte, 128<<10)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, want := range []string{`"seq":1,`, `"seq":2,`} {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		g := syslogLine.FindStringSubmatch(string(buf[:n]))
		if g == nil || !strings.Contains(g[5], want) {
			t.Fatalf("datagram %d: %.200q", i, buf[:n])
		}
		if i == 0 && !strings.Contains(g[5], `"truncated":true`) {
			t.Errorf("oversize record not marked: %.300s", g[5])
		}
	}
}

// TestStreamBegunOnAnEmptyTrail: a stream configured on an empty trail
// that has delivered nothing when the server restarts (its sink was down)
// goes on from the start: position 0 is not taken for a new stream's,
// which would begin at the head and skip what was written meanwhile.
func TestStreamBegunOnAnEmptyTrail(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	g := &gateSink{name: "gate", got: map[int64]bool{}}
	opts := &audit.StreamOptions{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	ss := e.log.Stream([]audit.Sink{g}, opts)
	e.record(t, events(2)...)
	waitStuckAt(t, ss, 0)
	ss.Close()
	g.allow.Store(100)
	ss = e.log.Stream([]audit.Sink{g}, opts) // the restart
	defer ss.Close()
	e.record(t, events(1)...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		n := len(g.got)
		g.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v, want 1, 2 and 3", g.got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStreamFailingClearsWhenAnotherReplicaSends: a replica whose sink
// failed until another replica took the stream over (its lease ran out
// while it backed off: here the clock jumps past it) no longer reports
// the stream failing: the other one sends it now.
func TestStreamFailingClearsWhenAnotherReplicaSends(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	opts := &audit.StreamOptions{MinBackoff: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Lease: time.Minute}
	down := &gateSink{name: "gate", got: map[int64]bool{}}
	ss1 := e.log.Stream([]audit.Sink{down}, opts)
	defer ss1.Close()
	e.record(t, events(1)...)
	waitStuckAt(t, ss1, 0)
	e.clock.Advance(2 * time.Minute) // its lease runs out
	other := audit.New(e.st, e.keys, &audit.Options{Now: e.clock.Now, CheckpointInterval: -1, PollInterval: 10 * time.Millisecond})
	defer other.Close()
	up := &gateSink{name: "gate", got: map[int64]bool{}}
	up.allow.Store(100)
	ss2 := other.Stream([]audit.Sink{up}, opts)
	defer ss2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := ss1.Stats()[0]
		if !st.Active && !st.Failing && ss2.Stats()[0].Cursor >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica 1: %+v; replica 2: %+v", st, ss2.Stats()[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStreamFailingWhenTheStoreIsDown: a stream that cannot read the trail
// delivers nothing, and shows it: failing, with a last error that names the
// store but not its words.
func TestStreamFailingWhenTheStoreIsDown(t *testing.T) {
	e := newEnv(t, storetestSQLite, nil)
	sink := &gateSink{name: "gate", got: map[int64]bool{}}
	sink.allow.Store(100)
	ss := e.log.Stream([]audit.Sink{sink}, &audit.StreamOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	defer ss.Close()
	e.record(t, events(1)...)
	deadline := time.Now().Add(10 * time.Second)
	for ss.Stats()[0].Cursor < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("never delivered: %+v", ss.Stats()[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := ss.Stats()[0]; st.Failing {
		t.Fatalf("failing while it delivers: %+v", st)
	}
	e.st.SQL().Close()
	for {
		st := ss.Stats()[0]
		if st.Failing && strings.Contains(st.LastError, "the store did not answer") {
			if strings.Contains(st.LastError, "sql") {
				t.Errorf("the last error carries the store's words: %q", st.LastError)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store is down, the stream shows %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
